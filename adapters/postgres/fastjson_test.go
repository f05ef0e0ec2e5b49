package postgres

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The codec's fast paths answer exactly what the general code answers.
func TestCodecFastPathsAgree(t *testing.T) {
	inputs := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : 1 , "b":[1, 2]}`, `{"a":{"x":1},"b":"s\"q","c":null,"d":true,"e":-0.0,"f":1e5}`,
		`{"a":1,"a":2}`, `{"k\u00e9":1}`, `{"α":"β\\n"}`, `{"a":"\u0000"}`, `{"a":1}x`, `{"a":}`, `[1]`, `"s"`, ``, `{"a":"` + "\xff" + `"}`,
		`{"a":[{"b":[]},{}],"c":"}]"}`, "{\n\"a\": [1,\n2]\n}", `{"n":-0,"m":-1,"o":0.5,"p":-0.0e1}`,
	}
	for _, r := range losslessRecords {
		inputs = append(inputs, r.rec)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	atoms := []string{`1`, `-0`, `1.5`, `2e3`, `"x"`, `"a\"b"`, `"\u0000"`, `true`, `null`, `[]`, `{}`, `[1,"a",{"k":2}]`, `{"z":1,"a":[null]}`, `"é"`,
		`[1,2e3,"x"]`, `[-0,"a\"]b",true]`, `["\u0000"]`, `[[1,-0.0],[]]`, `[1.5,[2],false,null]`, `["c1","c2"]`, `[-1,0.0,10]`}
	for range 500 {
		var b strings.Builder
		b.WriteByte('{')
		for i := range rng.IntN(6) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k` + string(rune('a'+rng.IntN(4))) + `":` + atoms[rng.IntN(len(atoms))])
		}
		b.WriteByte('}')
		inputs = append(inputs, b.String())
	}
	for _, in := range inputs {
		if keys, vals, ok := splitObjectFast([]byte(in)); ok {
			wk, wv, err := splitObjectSlow([]byte(in))
			require.NoError(t, err, in)
			require.Equal(t, wk, keys, in)
			require.Equal(t, len(wv), len(vals), in)
			for i := range wv {
				require.Equal(t, string(wv[i]), string(vals[i]), in)
			}
		}
		_, vals, err := splitObject([]byte(in))
		if err != nil {
			continue
		}
		for _, v := range vals {
			if stable, ok := jsonbStableFast(v); ok {
				require.Equal(t, jsonbStableSlow(v), stable, string(v))
			}
			if s, isString, ok := jsonStringFast(v); ok {
				var want string
				wantOK := len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &want) == nil
				require.Equal(t, wantOK, isString, string(v))
				require.Equal(t, want, s, string(v))
			}
		}
	}
}
