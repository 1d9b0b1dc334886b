package antientropy

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrBadConfig is returned by TreeConfig.Validate and
	// SchedulerConfig.Validate when a field is out of range; the text says
	// which field and why.
	ErrBadConfig = errors.New("antientropy: invalid config")
	// ErrBadReply is returned by Compare when the remote replica's answer
	// does not fit the request (a wrong number of hashes). It usually means
	// the two replicas run different tree configurations or versions.
	ErrBadReply = errors.New("antientropy: bad reply from remote replica")
)

// detailError adds what was wrong to a sentinel or underlying error. The
// package avoids fmt, which would pull os into its dependencies.
type detailError struct {
	err    error
	detail string
}

func (e *detailError) Error() string { return e.err.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.err }

// wrapError prefixes an underlying error (from Remote or LocalKeys) with
// what this package was doing.
type wrapError struct {
	op  string
	err error
}

func (e *wrapError) Error() string { return "antientropy: " + e.op + ": " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }
