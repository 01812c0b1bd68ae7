package usage

import (
	"fmt"
	"testing"
)

func TestZZProbe(t *testing.T) {
	var s dedupSet
	defer s.free()
	for i := 0; i < 2_000_000; i++ {
		s.insert(idHash(fmt.Appendf(nil, "ev-%09d", i)), 0)
	}
	total, maxRun := 0, 0
	for si := range s.shards {
		sh := &s.shards[si]
		for i, sl := range sh.slots {
			if sl.key == (idKey{}) {
				continue
			}
			home := slotIndex(sl.key.spread()<<dedupShardBits, len(sh.slots))
			d := i - home
			if d < 0 {
				d += len(sh.slots)
			}
			total += d
			maxRun = max(maxRun, d)
		}
	}
	t.Logf("avg displacement %.2f max %d", float64(total)/2e6, maxRun)
}
