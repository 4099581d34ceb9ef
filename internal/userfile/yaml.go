package userfile

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// MaxYAMLDepth bounds the nesting of the project's YAML files: an environment file nests
// 3 levels (load_balancer.cognito.user_pool_arn), an application manifest 4
// (services[0].env.KEY).
const MaxYAMLDepth = 16

// YAMLError is a construct CheckYAML refuses, at its position (1-based).
type YAMLError struct {
	Line, Column int
	Message      string
}

func (e *YAMLError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Message) }

// CheckYAML looks at the YAML library's tokens of data, before it is parsed, for what the
// project's files never need and what makes the parser or the decoder use unbounded
// memory: anchors and aliases (a few hundred bytes of nested aliases, "billion laughs",
// expand to gigabytes when decoded) and nesting deeper than maxDepth (the parser recurses
// per level: thirty thousand "[" exhaust its memory). It returns nil when data is free of
// both; syntax errors are left to the parser.
func CheckYAML(data []byte, maxDepth int) (yerr *YAMLError) {
	defer func() {
		// The tokenizer should not panic; if it does on hostile input, the parser (which
		// the callers guard) reports the syntax.
		if recover() != nil {
			yerr = nil
		}
	}()
	tokens := lexer.Tokenize(string(data))
	flow := 0 // open [ and {
	// Open block collections: the column of their indicator ("-" or a key) and whether
	// they are sequences. A "-" at a key's column is that key's value, not its sibling.
	type open struct {
		col int
		seq bool
	}
	var block []open
	enter := func(col int, seq bool) {
		for len(block) > 0 && block[len(block)-1].col > col {
			block = block[:len(block)-1]
		}
		if n := len(block); n > 0 && block[n-1].col == col && block[n-1].seq && !seq {
			block = block[:n-1] // a key after a sequence at its column: back in the parent map
		}
		if n := len(block); n > 0 && block[n-1].col == col && block[n-1].seq == seq {
			return // a sibling entry
		}
		block = append(block, open{col, seq})
	}
	for i, tk := range tokens {
		pos := tk.Position
		switch tk.Type {
		case token.AnchorType, token.AliasType:
			what, sign := "anchor", "&"
			if tk.Type == token.AliasType {
				what, sign = "alias", "*"
			}
			name := ""
			if i+1 < len(tokens) && tokens[i+1].Position.Line == pos.Line {
				name = tokens[i+1].Value
			}
			return &YAMLError{pos.Line, pos.Column, fmt.Sprintf("YAML %s %s%s: anchors and aliases are not accepted (this file needs none, and nested aliases can expand a few hundred bytes into gigabytes); write the value out", what, sign, Escape(name))}
		case token.DocumentHeaderType:
			flow, block = 0, nil
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			if flow > 0 {
				flow--
			}
		case token.SequenceEntryType:
			if flow == 0 {
				enter(pos.Column, true)
			}
		case token.MappingKeyType:
			if flow == 0 {
				enter(pos.Column, false)
			}
		case token.MappingValueType:
			if flow == 0 && i > 0 && tokens[i-1].Type != token.MappingKeyType {
				enter(tokens[i-1].Position.Column, false)
			}
		}
		if d := flow + len(block); d > maxDepth {
			return &YAMLError{pos.Line, pos.Column, fmt.Sprintf("nested more than %d levels deep; this file needs a few levels at most", maxDepth)}
		}
	}
	return nil
}
