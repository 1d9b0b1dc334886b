package vclock

import (
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"
)

// genVV is a valid VV over a small actor space, so that random pairs overlap,
// tie and differ often. It implements quick.Generator.
type genVV VV

func (genVV) Generate(r *rand.Rand, _ int) reflect.Value {
	var v VV
	for a := Actor(1); a <= 5; a++ {
		if r.Intn(3) > 0 {
			v = append(v, Entry{a, uint64(1 + r.Intn(3))})
		}
	}
	return reflect.ValueOf(genVV(v))
}

// model is the naive reference: a map from actor to counter.
func model(v VV) map[Actor]uint64 {
	m := map[Actor]uint64{}
	for _, e := range v {
		m[e.Actor] = e.Counter
	}
	return m
}

func modelJoin(a, b map[Actor]uint64) map[Actor]uint64 {
	out := maps.Clone(a)
	for k, c := range b {
		out[k] = max(out[k], c)
	}
	return out
}

func modelLeq(a, b map[Actor]uint64) bool {
	for k, c := range a {
		if c > b[k] {
			return false
		}
	}
	return true
}

func modelCompare(a, b map[Actor]uint64) Ordering {
	switch le, ge := modelLeq(a, b), modelLeq(b, a); {
	case le && ge:
		return Equal
	case le:
		return Before
	case ge:
		return After
	}
	return Concurrent
}

func quickCheck(t *testing.T, f any) {
	t.Helper()
	if err := quick.Check(f, &quick.Config{MaxCount: 2000, Rand: rand.New(rand.NewSource(1))}); err != nil {
		t.Fatal(err)
	}
}

// TestVVMatchesModel checks VV against the map model (a differential test).
func TestVVMatchesModel(t *testing.T) {
	quickCheck(t, func(ga, gb genVV) bool {
		a, b := VV(ga), VV(gb)
		j := a.Join(b)
		return j.Validate() == nil &&
			maps.Equal(model(j), modelJoin(model(a), model(b))) &&
			Compare(a, b) == modelCompare(model(a), model(b)) &&
			a.Descends(b) == modelLeq(model(b), model(a))
	})
}

func TestVVAlgebra(t *testing.T) {
	quickCheck(t, func(ga, gb, gc genVV) bool {
		a, b, c := VV(ga), VV(gb), VV(gc)
		return slices.Equal(a.Join(b), b.Join(a)) &&
			slices.Equal(a.Join(b).Join(c), a.Join(b.Join(c))) &&
			slices.Equal(a.Join(a), a) &&
			a.Join(b).Descends(a) && a.Join(b).Descends(b)
	})
}

func TestVVAddAndCovers(t *testing.T) {
	quickCheck(t, func(ga genVV, actor uint8, counter uint8) bool {
		v := VV(ga)
		d := Dot{Actor(actor%7 + 1), uint64(counter % 6)}
		added := v.Add(d)
		want := model(v)
		if d.Counter > 0 {
			want[d.Actor] = max(want[d.Actor], d.Counter)
		}
		return added.Validate() == nil && maps.Equal(model(added), want) &&
			added.Covers(d) && v.Covers(d) == (d.Counter <= model(v)[d.Actor])
	})
}

func TestVVNoAliasing(t *testing.T) {
	a := VV{{1, 1}, {3, 2}}
	b := VV{{2, 5}}
	for name, out := range map[string]VV{
		"Join":       a.Join(b),
		"Join nil":   a.Join(nil),
		"nil Join":   VV(nil).Join(a),
		"Add":        a.Add(Dot{3, 1}),
		"Add new":    a.Add(Dot{9, 1}),
		"Add zero":   a.Add(Dot{3, 0}),
		"Add higher": a.Add(Dot{1, 7}),
	} {
		for i := range out {
			out[i].Counter += 100
		}
		if !slices.Equal(a, VV{{1, 1}, {3, 2}}) || !slices.Equal(b, VV{{2, 5}}) {
			t.Fatalf("%s: mutating the result changed an input: a=%v b=%v", name, a, b)
		}
	}
}

func TestCompareTable(t *testing.T) {
	for _, tc := range []struct {
		a, b VV
		want Ordering
	}{
		{nil, nil, Equal},
		{VV{{1, 1}}, VV{{1, 1}}, Equal},
		{nil, VV{{1, 1}}, Before},
		{VV{{1, 1}}, nil, After},
		{VV{{1, 1}}, VV{{1, 2}}, Before},
		{VV{{1, 2}, {2, 1}}, VV{{1, 2}}, After},
		{VV{{1, 2}}, VV{{2, 1}}, Concurrent},
		{VV{{1, 2}, {2, 1}}, VV{{1, 1}, {2, 2}}, Concurrent},
		{VV{{1, 1}, {3, 1}}, VV{{1, 1}, {2, 1}, {3, 1}}, Before},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestVVValidate(t *testing.T) {
	for _, tc := range []struct {
		v  VV
		ok bool
	}{
		{nil, true},
		{VV{{1, 1}, {2, 1 << 63}}, true},
		{VV{{0, 1}}, false},
		{VV{{1, 0}}, false},
		{VV{{2, 1}, {1, 1}}, false},
		{VV{{1, 1}, {1, 2}}, false},
	} {
		if err := tc.v.Validate(); (err == nil) != tc.ok {
			t.Errorf("%v.Validate() = %v, want ok=%v", tc.v, err, tc.ok)
		}
	}
}

func TestStrings(t *testing.T) {
	if got := (VV{{0xab, 3}, {0xcd, 1}}).String(); got != "{ab:3 cd:1}" {
		t.Errorf("VV.String() = %q", got)
	}
	if got := Concurrent.String(); got != "Concurrent" {
		t.Errorf("Concurrent.String() = %q", got)
	}
	if got := Ordering(9).String(); got != "Ordering(9)" {
		t.Errorf("Ordering(9).String() = %q", got)
	}
}
