// Package lint holds tests about the code base itself: every package has a doc comment, and
// packages depend on each other only in the directions STYLE.md allows. It has no code of its own.
package lint
