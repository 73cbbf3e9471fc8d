package controller

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestCompileTrackerCoversOnlyLaterCompiles checks the rule that makes skipping a compile safe: only a compile
// begun after a policy's latest event, and finished, covers it.
func TestCompileTrackerCoversOnlyLaterCompiles(t *testing.T) {
	var tr compileTracker
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	other := types.NamespacedName{Namespace: "other", Name: "a"}

	if _, ok := tr.covered(a); ok {
		t.Fatal("covered without any event or compile")
	}
	tr.noteEvent(a)
	seq := tr.begin("ns")
	tr.noteEvent(b) // during the compile: it may have listed before b's change
	if _, ok := tr.covered(a); ok {
		t.Fatal("covered by a compile that has not finished")
	}
	tr.done("ns", seq, map[string]routeOutcome{"a": routeCompiled, "b": routeExcluded})
	if o, ok := tr.covered(a); !ok || o["a"] != routeCompiled {
		t.Fatalf("a not covered by the compile begun after its event: %v %v", o, ok)
	}
	if _, ok := tr.covered(b); ok {
		t.Fatal("b covered by a compile begun before its event")
	}
	tr.noteEvent(other)
	if _, ok := tr.covered(other); ok {
		t.Fatal("a compile of ns covers another namespace")
	}

	// A failed compile (begin without done) covers nothing.
	tr.noteEvent(a)
	_ = tr.begin("ns")
	if _, ok := tr.covered(a); ok {
		t.Fatal("covered by a failed compile")
	}
	seq = tr.begin("ns")
	changed := tr.done("ns", seq, map[string]routeOutcome{"a": routeKeptLastGood, "b": routeExcluded, "c": routeCompiled})
	if len(changed) != 1 || changed[0] != "a" {
		t.Errorf("changed = %v, want [a] (c is new, b unchanged)", changed)
	}
	if _, ok := tr.covered(b); !ok {
		t.Error("b not covered by the second compile")
	}
	tr.forget(a)
	if _, ok := tr.covered(a); ok {
		t.Error("forgotten policy still covered")
	}
}
