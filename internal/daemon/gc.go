package daemon

import (
	"os"
	"runtime"
)

// heapFloor is heap the garbage collector counts as live without it being
// used, so that it does not collect while the real heap is small. A gate
// or tablet keeps only a few MB live but allocates from a few hundred
// bytes to tens of KB per statement; at the default GOGC=100 it collected
// several times a second, each cycle waking idle threads for its mark
// workers. Measured on the 2-vCPU development VM (1-shard cluster,
// sysbench oltp_read_write), garbage collection was about a fifth of the
// gate's CPU. The floor keeps collections rare while the heap is small,
// and adds only this constant to the heap target when it is large (a
// higher GOGC would multiply a large heap's target instead).
//
// The floor's bytes hold no pointers (the collector never scans them) and
// are never written, so the operating system never backs them with memory;
// the price is the garbage that now accumulates between collections: the
// resident memory of an idle-heap process grows by up to about twice the
// floor.
const heapFloor = 32 << 20

var floor []byte

// reserveHeapFloor allocates the floor, unless GOGC is set in the
// environment (an operator's tuning wins).
func reserveHeapFloor() {
	if os.Getenv("GOGC") != "" {
		return
	}
	floor = make([]byte, heapFloor)
	runtime.KeepAlive(floor)
}
