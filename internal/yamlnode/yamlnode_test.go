package yamlnode

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestValueAndIsNull(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nb:\nc: ~\nd: [x]\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	if v := Value(m, "a"); v == nil || v.Value != "1" || IsNull(v) {
		t.Errorf("a = %+v, want the scalar 1", v)
	}
	for _, k := range []string{"b", "c"} {
		if v := Value(m, k); v == nil || !IsNull(v) {
			t.Errorf("%s = %+v, want null", k, v)
		}
	}
	if Value(m, "e") != nil || Value(nil, "a") != nil || Value(Value(m, "d"), "x") != nil {
		t.Error("Value of a missing key, of nil or of a sequence is not nil")
	}
}

func TestResolve(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &nul ~\nb: *nul\nc: 1\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	b := Value(m, "b")
	if IsNull(b) {
		t.Error("IsNull(*nul) = true, want false: IsNull does not follow aliases")
	}
	if r := Resolve(b); r != Value(m, "a") || !IsNull(r) {
		t.Errorf("Resolve(*nul) = %+v, want the null anchored at a", r)
	}
	if c := Value(m, "c"); Resolve(c) != c {
		t.Error("Resolve of a plain scalar is not the scalar itself")
	}
	if Resolve(nil) != nil {
		t.Error("Resolve(nil) is not nil")
	}
}
