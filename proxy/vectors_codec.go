package proxy

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// wireVector is a vector on the wire: base64 of little-endian float32 (a
// JSON string) or a JSON array of numbers. Both are accepted on input.
type wireVector []float32

func (v *wireVector) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		vec, err := decodeBase64Vector(s)
		if err != nil {
			return err
		}
		*v = vec
		return nil
	}
	var arr []float32
	if err := json.Unmarshal(data, &arr); err != nil {
		return &fieldError{field: "vector", msg: "must be a base64 string of little-endian float32 or an array of finite numbers"}
	}
	if len(arr) == 0 {
		return vectorError("is empty")
	}
	*v = arr
	return nil
}

func vectorError(msg string) *fieldError {
	return &fieldError{field: "vector", msg: msg, kind: kindInvalid, code: "invalid_argument"}
}

func decodeBase64Vector(s string) ([]float32, error) {
	if s == "" {
		return nil, vectorError("is an empty base64 string")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, vectorError(fmt.Sprintf("is not valid base64 (standard alphabet, padded): %v", err))
	}
	if len(raw)%4 != 0 {
		return nil, vectorError(fmt.Sprintf("decodes to %d bytes, not a whole number of float32 (4 bytes each)", len(raw)))
	}
	vec := make([]float32, len(raw)/4)
	for i := range vec {
		f := math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, vectorError(fmt.Sprintf("has element %d that is not a finite number", i))
		}
		vec[i] = f
	}
	return vec, nil
}

func encodeBase64Vector(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[i*4:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// vectorOut encodes a vector for a response: base64 by default, or an array.
func vectorOut(v []float32, asArray bool) json.RawMessage {
	if asArray {
		b, _ := json.Marshal(v) // []float32 of finite values always encodes
		return b
	}
	return json.RawMessage(`"` + encodeBase64Vector(v) + `"`)
}
