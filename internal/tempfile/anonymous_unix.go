//go:build unix

package tempfile

// anonymous: on Unix an open file whose name is removed stays readable and writable through its
// descriptor.
const anonymous = true
