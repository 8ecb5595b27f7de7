package agent

import "testing"

func TestServerOnLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"https://localhost:8443": true, "https://127.0.0.1:8443": true, "https://[::1]:8443": true,
		"https://lanyard.localhost": true, "https://lanyard.example.com": false, "https://10.0.0.5:8443": false,
		"::bad": false,
	} {
		if got := serverOnLoopback(u); got != want {
			t.Errorf("serverOnLoopback(%q) = %v, want %v", u, got, want)
		}
	}
}
