// Package process tells whether a process of this machine still exists: what a lease holder or a
// temporary file names as its owner (host and pid) can be taken over or removed at once when the
// owner is gone.
package process
