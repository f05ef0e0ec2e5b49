package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
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
		`[1,2e3,"x"]`, `[-0,"a\"]b",true]`, `["\u0000"]`, `[[1,-0.0],[]]`, `[1.5,[2],false,null]`, `["c1","c2"]`, `[-1,0.0,10]`,
		`{"a":1,"a":2}`, `{"a":{"b":1,"c":[{"b":1,"b":2}]}}`, `{"a":{"b":1},"b":{"a":1e2}}`, `{"k\u00e9":1,"ké":2}`, `[{"x":"\u0000"}]`, `{"a":[-0.0]}`}
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
			if len(v) > 0 && v[0] == '"' {
				var want string
				require.NoError(t, json.Unmarshal(v, &want))
				s, ok := appendUnescaped(nil, v[1:len(v)-1])
				if ok {
					require.Equal(t, want, string(s), string(v))
				}
				got, ok := new(encoder).text(v)
				require.True(t, ok)
				require.Equal(t, want, string(got), string(v))
			}
		}
	}
}

// storedRow is what reading the columns back gives for encoded values (in
// text format), without a database (JSONB's own normalization aside).
func storedRow(tb table, vals []any, extra []byte) rowVals {
	r := rowVals{cols: make([][]byte, len(tb.cols)), formats: make([]int16, len(tb.cols)), extra: extra}
	for i, c := range tb.cols {
		switch v := vals[i].(type) {
		case nil:
		case int32:
			r.cols[i] = []byte(fmt.Sprint(v))
		case time.Time:
			if c.kind == kEpoch {
				r.cols[i] = []byte(fmt.Sprint(v.Unix()))
			} else {
				r.cols[i] = []byte(v.Format("2006-01-02 15:04:05.999999"))
			}
		case []byte:
			r.cols[i] = v
		case []string:
			r.cols[i] = []byte(strings.Join(v, adapters.GraphFieldSep))
		default:
			panic(fmt.Sprintf("column %s: unexpected %T", c.name, v))
		}
	}
	return r
}

// The encoder splits records as the general code does (same columns, same
// extra document), omits the extra exactly when the columns say it all, and
// what it stores decodes to the record.
func TestEncoderAgrees(t *testing.T) {
	tables := []table{kvTableFor("text_chunks"), kvTableFor("llm_response_cache"), genericKV, docStatusTable,
		vectorBases["entities"].table("e", 3)}
	inputs := []string{
		`{}`, `{"a":1,"a":2}`, ` {"content" : "x\ny"} `, `{"k\u00e9":"v"}`, `{"content":"é\u00e9\ud83d\ude00","file_path":"\ud800"}`,
		`{"full_doc_id":"d","chunk_order_index":1,"tokens":2,"content":"c","file_path":"f","llm_cache_list":["x"],"create_time":1,"update_time":2}`,
		`{"full_doc_id":"d","tokens":2,"create_time":1}`, `{"tokens":2,"full_doc_id":"d"}`, `{"full_doc_id":null}`, `{"content":""}`,
		`{"content":"a\u0000b"}`, `{"full_doc_id":"` + strings.Repeat("é", 300) + `"}`, `{"tokens":-0,"chunk_order_index":2147483648}`,
		`{"create_time":-62135596801,"update_time":1e3}`, `{"status":"ok","created_at":"2025-01-02T03:04:05+00:00","metadata":{"a":[1,{"b":2}]}}`,
		`{"entity_name":"e","source_id":"a<SEP>b","<k>":"<v>&","x":"\"\\\/\b\f\n\r\t\u001f\u2028"}`,
		`{"_id":"other","content":"x"}`, `{"content":"x","_id":"id","update_time":null}`, `{"_id":"\u0069d"}`, `{"x":{"a" : [1, 2]}}`, `{"return":"r","queryparam":{"a":1,"a":2}}`,
	}
	for _, r := range losslessRecords {
		inputs = append(inputs, r.rec)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"content", "tokens", "full_doc_id", "create_time", "status", "metadata", "entity_name", "source_id", "x", "y"}
	atoms := []string{`1`, `-0`, `1.5`, `2e3`, `"x"`, `"a\"b"`, `"\u0000"`, `true`, `null`, `[]`, `{}`, `[1,"a",{"k":2}]`, `"é\n"`,
		`"2025-01-02T03:04:05+00:00"`, `"a<SEP>b"`, `1700000000`, `99999999999`, `["c1","c2"]`, `{"z":1,"a":[null]}`}
	for range 1000 {
		var b strings.Builder
		b.WriteByte('{')
		for i := range rng.IntN(7) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + keys[rng.IntN(len(keys))] + `":` + atoms[rng.IntN(len(atoms))])
		}
		b.WriteByte('}')
		inputs = append(inputs, b.String())
	}
	e := new(encoder)
	for _, tb := range tables {
		for _, in := range inputs {
			vals := make([]any, len(tb.cols))
			extra, err := tb.encodeTo(e, "id", []byte(in), vals)
			require.NoError(t, err, in)

			// The general code's split.
			ks, vs, err := splitObjectSlow([]byte(in))
			require.NoError(t, err, in)
			want := extraDoc{Order: ks}
			omit := true
			last := -1
			for i, k := range ks {
				ci := tb.column([]byte(k))
				if ci < 0 {
					omit = false
					if jsonbStable(vs[i]) {
						if want.Fields == nil {
							want.Fields = map[string]json.RawMessage{}
						}
						want.Fields[k] = vs[i]
						continue
					}
				} else {
					val, exact := encodeValue(tb.cols[ci], vs[i])
					require.Equal(t, val, vals[ci], "%s: %s", in, k)
					if exact && val != nil && ci > last {
						last = ci
						continue
					}
					omit = false
					if exact {
						continue
					}
				}
				if want.Raw == nil {
					want.Raw = map[string]string{}
				}
				want.Raw[k] = string(vs[i])
			}
			require.Equal(t, omit, extra == nil, "%s: %s", in, extra)
			if extra != nil {
				var got extraDoc
				require.NoError(t, json.Unmarshal(extra, &got), "%s", extra)
				if len(want.Order) == 0 {
					want.Order = []string{}
				}
				for k, v := range got.Fields {
					require.JSONEq(t, string(want.Fields[k]), string(v), in)
				}
				require.Equal(t, len(want.Fields), len(got.Fields), in)
				want.Fields, got.Fields = nil, nil
				require.Equal(t, want, got, in)
			}
			rec, err := tb.appendRecord(nil, "id", storedRow(tb, vals, extra), false)
			require.NoError(t, err)
			requireSameJSON(t, []byte(in), rec, "%s: %s", tb.name, in)
			// The one-pass view is KVView of the record, compact.
			view, err := tb.appendRecord(nil, "id", storedRow(tb, vals, extra), true)
			require.NoError(t, err)
			var wantView bytes.Buffer
			require.NoError(t, json.Compact(&wantView, adapters.KVView("id", rec)))
			require.Equal(t, wantView.String(), string(view), "%s: %s", tb.name, in)
		}
	}
}

// scanObject accepts only valid JSON and splits it as the general code does.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\u00e9\n","b":[1,{"c":-0.5e+3}],"d":null}`, `{"a":tru}`, `{"a":01}`, `{"a":"\ud83d\ude00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, vals, ok := scanObject(data, nil, nil)
		if !ok {
			return
		}
		require.True(t, json.Valid(data), "%q", data)
		wk, wv, err := splitObjectSlow(data)
		require.NoError(t, err)
		require.Equal(t, len(wk), len(keys))
		for i := range wk {
			require.Equal(t, wk[i], string(keys[i]))
			require.Equal(t, string(wv[i]), string(vals[i]))
		}
		for _, v := range vals {
			if stable, ok := jsonbStableFast(v); ok {
				require.Equal(t, jsonbStableSlow(v), stable, "%s", v)
			}
			if len(v) > 0 && v[0] == '"' {
				var want string
				require.NoError(t, json.Unmarshal(v, &want))
				got, ok := new(encoder).text(v)
				require.True(t, ok)
				require.Equal(t, want, string(got))
			}
		}
	})
}
