package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setCondition is the one way conditions are written. It stamps observedGeneration and keeps the existing
// lastTransitionTime unless the status flips, so a reconcile that changes nothing produces an identical status
// (and therefore no write), and lastTransitionTime answers "since when".
func setCondition(conds *[]metav1.Condition, c metav1.Condition, generation int64, now time.Time) {
	c.ObservedGeneration = generation
	for i := range *conds {
		existing := &(*conds)[i]
		if existing.Type != c.Type {
			continue
		}
		if existing.Status == c.Status && !existing.LastTransitionTime.IsZero() {
			c.LastTransitionTime = existing.LastTransitionTime
		} else {
			c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		}
		*existing = c
		return
	}
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	*conds = append(*conds, c)
}

// truncTime returns t as a metav1.Time at the second precision the API server stores, so values computed in
// memory compare equal to the ones read back and do not cause a status write on every reconcile.
func truncTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}
