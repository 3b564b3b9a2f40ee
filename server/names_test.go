package server

import "testing"

func TestCheckName(t *testing.T) {
	valid := []string{"bob", "Bob_2", "a.b-c", "Zoë", "日本語", "x", "abcdefghijklmnopqrstuvwx", "नमस्ते"}
	for _, n := range valid {
		if _, _, r := checkName(n); r != nil {
			t.Errorf("checkName(%q) refused: %s", n, r.Text)
		}
	}
	invalid := []string{"", "  ", "two words", "abcdefghijklmnopqrstuvwxy", "bob!", "<b>", "a\x00", "\u0301a", "tab\there", "ab\u202e"}
	for _, n := range invalid {
		if _, _, r := checkName(n); r == nil || r.Code != CodeNameInvalid {
			t.Errorf("checkName(%q) = %v, want name_invalid", n, r)
		}
	}
}

func TestNameKeysMatchAcrossCaseAndForm(t *testing.T) {
	same := [][2]string{
		{"Bob", "bob"},
		{"BOB", "bOb"},
		{"Zoë", "zoe\u0308"}, // composed and decomposed
		{"ＢＯＢ", "bob"},       // fullwidth
		{"ΣΊΣΥΦΟΣ", "σίσυφος"},
	}
	for _, p := range same {
		_, k1, r1 := checkName(p[0])
		_, k2, r2 := checkName(p[1])
		if r1 != nil || r2 != nil {
			t.Fatalf("checkName(%q, %q): %v %v", p[0], p[1], r1, r2)
		}
		if k1 != k2 {
			t.Errorf("keys of %q and %q differ: %q %q", p[0], p[1], k1, k2)
		}
	}
	_, k1, _ := checkName("bob")
	_, k2, _ := checkName("bób")
	if k1 == k2 {
		t.Errorf("bob and bób must be different names")
	}
}

func TestNewMemberID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newMemberID()
		if len(id) != len("user_")+12 || id[:5] != "user_" {
			t.Fatalf("bad id %q", id)
		}
		for _, c := range id[5:] {
			if c < '0' || c > '9' {
				t.Fatalf("bad id %q", id)
			}
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}
