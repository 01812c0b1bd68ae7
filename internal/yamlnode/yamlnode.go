// Package yamlnode reads yaml.v3 node trees: what billrun's file parsers (the price book, the accounts
// file) use to check keys and values with their line numbers before decoding.
package yamlnode

import "gopkg.in/yaml.v3"

// Value returns the value of key in mapping n, or nil (n nil, not a mapping, or without key).
func Value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// IsNull reports whether n is a null scalar (null, ~ or nothing after the key). It does not follow an
// alias: call it on Resolve(n) to read a value as the decoder will.
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// Resolve returns the node n stands for: the anchored node when n is an alias (*name), else n itself.
// The parser never anchors an alias, so one step reaches the value.
func Resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}
