package process

import "os"

// host is this machine's name, as the owners billrun writes name it.
var host, _ = os.Hostname()

// GoneHere reports whether an owner named by host and pid was a process of this machine that no
// longer exists. An owner on another host, or on a machine without a name, cannot be checked: it is
// not gone.
func GoneHere(ownerHost string, pid int) bool {
	return host != "" && ownerHost == host && Gone(pid)
}
