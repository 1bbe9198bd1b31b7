/*
Copyright The Archon Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package chartrepo

// The YAML decoder builds a node of a few hundred bytes for every scalar,
// key and collection before it fills any struct, so what a document costs
// to decode depends on how many nodes it holds, not on its size: a 4 MB
// flow sequence "[a,a,a,...]" is two million nodes. An index from a remote
// repository is counted first, without allocating, and refused when it
// holds more nodes than a helm index of its size would.

const (
	// bytesPerIndexNode is the fewest bytes a node of a remote index may
	// take on average. Helm writes one node per 15 bytes or more (keys and
	// values of chart versions, a pair a line); a flow-sequence bomb is one
	// per 2.
	bytesPerIndexNode = 6
	// minIndexNodeBudget lets small indexes hold anything.
	minIndexNodeBudget = 10000
	// maxIndexNodes bounds the nodes of the largest index accepted.
	maxIndexNodes = 2_000_000
)

// indexNodeBudget is the most nodes an index of size bytes may hold.
func indexNodeBudget(size int) int {
	return min(maxIndexNodes, max(minIndexNodeBudget, size/bytesPerIndexNode))
}

// countYAMLNodes returns an upper estimate of the nodes the YAML decoder
// makes of data, stopping once it passes limit. It counts the tokens that
// start nodes: a mapping key (": ", two nodes with its value), a block
// sequence item ("- "), the items and brackets of flow collections, and
// aliases; it skips quoted scalars and comments, where those characters
// mean nothing.
func countYAMLNodes(data []byte, limit int) int {
	nodes := 1
	lineStart := true // only blanks since the start of the line
	// prev is the last character outside blanks on the line, or 0 at its
	// start: a quote starts a quoted scalar only where a scalar may start.
	var prev byte
	for i := 0; i < len(data) && nodes <= limit; i++ {
		c := data[i]
		switch {
		case c == '\n':
			lineStart, prev = true, 0
			continue
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '#' && (lineStart || i > 0 && (data[i-1] == ' ' || data[i-1] == '\t')):
			for i < len(data) && data[i] != '\n' {
				i++
			}
			i-- // the newline is seen next
			continue
		case (c == '"' || c == '\'') && startsScalar(prev):
			// Its node was counted with the token before it.
			i = endOfQuoted(data, i)
		case c == '[' || c == '{' || c == ',' || c == '*':
			nodes++
		case c == ':' && (i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\n' || data[i+1] == '\r' || data[i+1] == '\t'):
			nodes += 2
		case c == '-' && (prev == 0 || prev == '-') && (i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\n'):
			nodes++
		}
		lineStart, prev = false, c
	}
	return nodes
}

// startsScalar says whether a scalar may start after the character prev
// (0 at the start of a line).
func startsScalar(prev byte) bool {
	switch prev {
	case 0, ':', '-', '[', '{', ',', '?':
		return true
	}
	return false
}

// endOfQuoted returns the index of the quote closing the quoted scalar
// that opens at start, or the last index when it never closes.
func endOfQuoted(data []byte, start int) int {
	quote := data[start]
	for i := start + 1; i < len(data); i++ {
		switch {
		case quote == '"' && data[i] == '\\':
			i++ // an escaped character
		case data[i] == quote && quote == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++ // '' is a quote inside single quotes
		case data[i] == quote:
			return i
		}
	}
	return len(data) - 1
}
