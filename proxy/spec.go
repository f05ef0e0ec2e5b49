package proxy

import _ "embed"

// The source of truth is openapi.yaml at the repository root; go generate
// copies it here so it can be embedded (go:embed cannot reach a parent
// folder). TestSpecCopyInSync fails when the two differ.
//
//go:generate cp ../openapi.yaml openapi.yaml

// OpenAPISpec is the API contract, served at GET /v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPISpec []byte
