package adapters

// AppendCompact appends valid JSON v without the whitespace outside its
// strings: what json.Compact gives for valid input, without validating it
// again (records an adapter returns were valid when written).
func AppendCompact(dst, v []byte) []byte {
	in := false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case in:
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
		case c == '"':
			in = true
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}
