package adapters

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// nameChars is the regular expression it replaced, on random names.
func TestNameCharsIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	alphabet := "aZ09_.-/ é\x00"
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		require.Equal(t, re.MatchString(string(b)), nameChars(string(b)), "%q", b)
	}
}
