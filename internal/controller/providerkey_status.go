package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

func now(c clock.PassiveClock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// computeProviderKeyStatus sets pk's status from the key read. When the key cannot be read, keyFingerprint and
// secretResourceVersion keep describing the last key that could: that is the key routers keep using, since the
// compiled config keeps it too.
func computeProviderKeyStatus(pk *v1alpha1.ProviderKey, res keyResolution, at time.Time) {
	st := &pk.Status
	st.ObservedGeneration = pk.Generation
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Reason: res.Reason, Message: res.Message}
	if res.OK() {
		cond.Status = metav1.ConditionTrue
		fp := res.Key.Fingerprint()
		if st.KeyFingerprint != "" && st.KeyFingerprint != fp {
			st.LastRotationTime = truncTime(at)
		}
		st.KeyFingerprint = fp
		st.SecretResourceVersion = res.SecretRV
	} else {
		cond.Status = metav1.ConditionFalse
		if st.KeyFingerprint != "" {
			cond.Message += "; the compiled router config keeps the last key read (fingerprint " + st.KeyFingerprint + ")"
		}
	}
	setCondition(&st.Conditions, cond, pk.Generation, at)
}
