//go:build !unix

package tempfile

// anonymous: elsewhere (Windows) an open file's name cannot be removed.
const anonymous = false
