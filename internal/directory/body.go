package directory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/httpx"
)

// readBody returns a request body of at most httpx.MaxBody bytes, decompressed when its
// Content-Encoding is gzip (as msgraph-sdk-go sends it), again at most httpx.MaxBody bytes.
// Another encoding is a 415, which makes the Graph SDKs retry uncompressed.
func readBody(r *http.Request) ([]byte, error) {
	tooLarge := badRequest("The request body is larger than %d bytes.", httpx.MaxBody)
	raw, err := io.ReadAll(io.LimitReader(r.Body, httpx.MaxBody+1))
	if err != nil {
		return nil, badRequest("The request body could not be read.")
	}
	if len(raw) > httpx.MaxBody {
		return nil, tooLarge
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, badRequest("The request body is not valid gzip.")
		}
		out, err := io.ReadAll(io.LimitReader(zr, httpx.MaxBody+1))
		if err != nil {
			return nil, badRequest("The request body is not valid gzip.")
		}
		if len(out) > httpx.MaxBody {
			return nil, tooLarge
		}
		return out, nil
	default:
		return nil, &statusError{status: http.StatusUnsupportedMediaType,
			msg: "Content-Encoding '" + enc + "' is not supported: send the body uncompressed or gzip-compressed."}
	}
}

// decodeBody reads a JSON object into v (a pointer to one of the *Body types below), refusing
// properties v does not have, as Graph does; @odata.type is allowed everywhere.
func decodeBody(r *http.Request, v any, typeName string) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return badRequest("The request body is empty: a JSON object is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return badRequest("Property '%s' does not exist on type '%s'.", strings.Trim(name, `"`), typeName)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return badRequest("The request body must be a JSON object.")
			}
			return badRequest("Invalid value for property '%s' of type '%s': a JSON %s is not allowed there.", te.Field, typeName, te.Value)
		}
		return badRequest("The request body is not valid JSON: %s.", msg)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("The request body holds more than one JSON value.")
	}
	return nil
}

// Request bodies, as Graph's types serialise them.

type appRoleBody struct {
	ODataType          string   `json:"@odata.type"`
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          *bool    `json:"isEnabled"` // absent: enabled
	Origin             string   `json:"origin"`    // read-only; ignored
}

type applicationBody struct {
	ODataType      string         `json:"@odata.type"`
	DisplayName    *string        `json:"displayName"`
	IdentifierURIs *[]string      `json:"identifierUris"`
	AppRoles       *[]appRoleBody `json:"appRoles"`
	SignInAudience *string        `json:"signInAudience"`
}

func (b applicationBody) input() applicationInput {
	in := applicationInput{DisplayName: b.DisplayName, IdentifierURIs: b.IdentifierURIs, SignInAudience: b.SignInAudience}
	if b.AppRoles != nil {
		rs := make([]AppRole, 0, len(*b.AppRoles))
		for _, r := range *b.AppRoles {
			enabled := r.IsEnabled == nil || *r.IsEnabled
			rs = append(rs, AppRole{ID: r.ID, Value: r.Value, DisplayName: r.DisplayName, Description: r.Description,
				AllowedMemberTypes: r.AllowedMemberTypes, IsEnabled: enabled})
		}
		in.AppRoles = &rs
	}
	return in
}

type servicePrincipalBody struct {
	ODataType                 string `json:"@odata.type"`
	AppID                     string `json:"appId"`
	AccountEnabled            *bool  `json:"accountEnabled"`
	AppRoleAssignmentRequired *bool  `json:"appRoleAssignmentRequired"`
}

type assignmentBody struct {
	ODataType     string `json:"@odata.type"`
	PrincipalID   string `json:"principalId"`
	ResourceID    string `json:"resourceId"`
	AppRoleID     string `json:"appRoleId"`
	PrincipalType string `json:"principalType"`
}

type groupBody struct {
	ODataType       string   `json:"@odata.type"`
	DisplayName     *string  `json:"displayName"`
	Description     *string  `json:"description"`
	MailNickname    *string  `json:"mailNickname"`
	SecurityEnabled *bool    `json:"securityEnabled"`
	MailEnabled     *bool    `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes"`
}

type refBody struct {
	ODataType string `json:"@odata.type"`
	ODataID   string `json:"@odata.id"`
}

type roleAssignmentBody struct {
	ODataType        string `json:"@odata.type"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
}
