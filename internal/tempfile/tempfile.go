// Package tempfile holds what billrun needs to leave no temporary file behind when it is killed.
package tempfile

import "os"

// Anonymous removes the name of f, a temporary file only ever used through f itself, where the
// system lets an open file lose its name (Unix): the file then lives until f is closed or the process
// ends, however it ends, and a killed process leaves nothing in the temporary directory. It reports
// whether the name is gone; where it is not, the caller removes the file once it is closed.
func Anonymous(f *os.File) bool {
	return anonymous && os.Remove(f.Name()) == nil
}
