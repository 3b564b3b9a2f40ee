package avatar

import "testing"

func TestInitial(t *testing.T) {
	for name, want := range map[string]string{"ada": "A", "élan": "É", "": "?", "9lives": "9"} {
		if got := Initial(name); got != want {
			t.Errorf("Initial(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestHueIsStableAndInRange(t *testing.T) {
	name := "ada"
	if a, b := Hue(name), Hue(string([]byte(name))); a != b {
		t.Fatal("Hue differs for the same name")
	}
	seen := map[int]bool{}
	for _, name := range []string{"ada", "grace", "linus", "ken", "rob", "member-number-01", "member-number-02"} {
		h := Hue(name)
		if h < 0 || h >= Hues {
			t.Fatalf("Hue(%q) = %d", name, h)
		}
		seen[h] = true
	}
	if len(seen) < 5 {
		t.Errorf("seven names share %d hues", len(seen))
	}
}
