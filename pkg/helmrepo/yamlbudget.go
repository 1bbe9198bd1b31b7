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

package helmrepo

// The YAML decoder builds a node of a few hundred bytes for every scalar,
// key and collection before it fills any struct, so what a document costs
// to decode depends on how many nodes it holds, not on its size: a 4 MB
// flow sequence "[a,a,a,...]" is two million nodes. An index from a remote
// repository is counted first, without allocating, and refused when it
// holds more nodes than a helm index of its size would.

const (
	// bytesPerIndexNode is the fewest bytes a node of a remote index may
	// take on average. Helm writes one node per 13 bytes or more (keys and
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

// countYAMLNodes returns an upper bound of the nodes the YAML decoder
// makes of data, stopping once it passes limit. Every node but the first
// starts at a token: a mapping key (": ", or ":" right after a quoted
// key, two nodes with its value), a complex key ("? "), a block sequence
// item ("- "), the items and brackets of flow collections, an alias. The
// count takes those characters wherever they are, inside quoted scalars,
// block scalars and comments too: it may count too many, never too few,
// whatever the document makes of its quotes.
func countYAMLNodes(data []byte, limit int) int {
	nodes := 1
	// prev is the last character on the line that is not a blank, or 0
	// at the start of a line.
	var prev byte
	for i := 0; i < len(data) && nodes <= limit; i++ {
		c := data[i]
		blankAfter := i+1 == len(data) || isBlank(data[i+1])
		switch {
		case c == '\n':
			prev = 0
			continue
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '[' || c == '{' || c == ',' || c == '*':
			nodes++
		case c == ':' && (blankAfter || prev == '"' || prev == '\''):
			nodes += 2
		case c == '?' && blankAfter:
			nodes += 2
		case c == '-' && blankAfter && (prev == 0 || prev == '-' || prev == '?' || prev == ':'):
			nodes++
		}
		prev = c
	}
	return nodes
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
