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
