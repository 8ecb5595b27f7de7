package console

import "net/url"

func pathEsc(s string) string { return url.PathEscape(s) }
