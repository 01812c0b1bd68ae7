// Command yaml2json converts a YAML file to JSON for the acceptance scripts (python3 has no YAML in its
// standard library). Scalars stay the strings they are written as, except ints, floats, bools and null.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

func conv(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		return conv(n.Content[0])
	case yaml.AliasNode:
		return conv(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = conv(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, conv(c))
		}
		return l
	}
	switch n.ShortTag() {
	case "!!int":
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v
		}
	case "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return v
		}
	case "!!bool":
		return n.Value == "true"
	case "!!null":
		return nil
	}
	return n.Value
}

func main() {
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(conv(&n))
	os.Stdout.Write(out)
}
