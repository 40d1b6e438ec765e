package vindex

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Factory creates a vindex called name (the vschema's name for it) from the
// params of its vschema declaration. It must reject params it does not know,
// naming them, so that a typo in a vschema fails loudly instead of being
// ignored. The params map belongs to the caller: a Factory must not keep it.
type Factory func(name string, params map[string]string) (Vindex, error)

// registry maps vindex type names to factories. The package keeps one,
// filled by the init functions of the built-in types and by Register; it is
// a type of its own so that tests can exercise registration on a private
// instance.
type registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

func (r *registry) register(vindexType string, f Factory) {
	if vindexType == "" {
		panic("vindex: Register with an empty type name")
	}
	if f == nil {
		panic(fmt.Sprintf("vindex: Register of type %q with a nil factory", vindexType))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[vindexType]; dup {
		panic(fmt.Sprintf("vindex: type %q is registered twice", vindexType))
	}
	if r.factories == nil {
		r.factories = make(map[string]Factory)
	}
	r.factories[vindexType] = f
}

func (r *registry) create(vindexType, name string, params map[string]string) (Vindex, error) {
	r.mu.RLock()
	f, ok := r.factories[vindexType]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown vindex type %q (known: %s)", vindexType, strings.Join(r.types(), ", "))
	}
	v, err := f(name, params)
	if err != nil {
		return nil, fmt.Errorf("creating vindex %q of type %s: %w", name, vindexType, err)
	}
	return v, nil
}

func (r *registry) types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.factories))
}

// defaultRegistry is the package's registry: the one piece of package-level
// mutable state, guarded by its mutex.
var defaultRegistry registry

// Register makes a vindex type available to Create under vindexType. It is
// meant to be called from init functions. Registering an empty name, a nil
// factory or a type name twice is a programming error and panics.
func Register(vindexType string, f Factory) {
	defaultRegistry.register(vindexType, f)
}

// Create makes a vindex of a registered type, called name, from params. An
// unknown type is an error listing the known ones; so are params the type
// does not take.
func Create(vindexType, name string, params map[string]string) (Vindex, error) {
	return defaultRegistry.create(vindexType, name, params)
}

// Types returns the registered vindex type names, sorted.
func Types() []string {
	return defaultRegistry.types()
}

// checkParams returns an error naming every key of params that is not one of
// known, so that vschema typos are reported instead of ignored.
func checkParams(params map[string]string, known ...string) error {
	var unknown []string
	for k := range params {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	quoted := make([]string, len(unknown))
	for i, k := range unknown {
		quoted[i] = fmt.Sprintf("%q", k)
	}
	what := "unknown param " + quoted[0]
	if len(unknown) > 1 {
		what = "unknown params " + strings.Join(quoted, ", ")
	}
	if len(known) == 0 {
		return fmt.Errorf("%s (this vindex type takes no params)", what)
	}
	sortedKnown := slices.Sorted(slices.Values(known))
	return fmt.Errorf("%s (known: %s)", what, strings.Join(sortedKnown, ", "))
}
