package migration

import (
	"hash/maphash"
	"slices"
	"sync"
)

// keyLocks orders a live migration's writes: a write to some keys of a
// namespace holds their stripes (and the namespace shared) while it writes
// both backends, so the two apply writes to one key in the same order and
// the copier never interleaves with a write to a record it copies. Writes
// whose keys cannot be named in advance (a graph edit, deleting every
// relation of an entity, dropping a namespace) hold the namespace
// exclusively.
type keyLocks struct {
	seed    maphash.Seed
	mu      sync.Mutex
	spaces  map[string]*nsLock
	stripes int
}

type nsLock struct {
	whole   sync.RWMutex
	stripes []sync.Mutex
}

func newKeyLocks(stripes int) *keyLocks {
	return &keyLocks{seed: maphash.MakeSeed(), spaces: map[string]*nsLock{}, stripes: stripes}
}

func (k *keyLocks) space(ns string) *nsLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.spaces[ns]
	if !ok {
		l = &nsLock{stripes: make([]sync.Mutex, k.stripes)}
		k.spaces[ns] = l
	}
	return l
}

// lockKeys locks the stripes of keys (in ascending stripe order, so two
// writers never deadlock) under the namespace's shared lock; the returned
// func unlocks.
func (k *keyLocks) lockKeys(ns string, keys []string) func() {
	l := k.space(ns)
	idx := make([]int, 0, len(keys))
	for _, key := range keys {
		idx = append(idx, int(maphash.String(k.seed, key)%uint64(k.stripes)))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	l.whole.RLock()
	for _, i := range idx {
		l.stripes[i].Lock()
	}
	return func() {
		for j := len(idx) - 1; j >= 0; j-- {
			l.stripes[idx[j]].Unlock()
		}
		l.whole.RUnlock()
	}
}

// lockSpace locks the whole namespace.
func (k *keyLocks) lockSpace(ns string) func() {
	l := k.space(ns)
	l.whole.Lock()
	return l.whole.Unlock
}

// lockAll locks every namespace known so far and blocks new ones: the
// cutover holds it while it switches the registry.
func (k *keyLocks) lockAll() func() {
	k.mu.Lock()
	names := make([]string, 0, len(k.spaces))
	for n := range k.spaces {
		names = append(names, n)
	}
	slices.Sort(names)
	locked := make([]*nsLock, 0, len(names))
	for _, n := range names {
		locked = append(locked, k.spaces[n])
	}
	// k.mu stays held: a namespace first written now waits for the end.
	for _, l := range locked {
		l.whole.Lock()
	}
	return func() {
		for _, l := range locked {
			l.whole.Unlock()
		}
		k.mu.Unlock()
	}
}
