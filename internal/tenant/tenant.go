package tenant

import "time"

// Tenant is one directory.
type Tenant struct {
	ID      string    `json:"id"`   // a GUID, lower case
	Name    string    `json:"name"` // display name
	Default bool      `json:"default"`
	Created time.Time `json:"created"`
}
