package ring

import (
	"errors"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c != (Config{Partitions: 256, N: 3}) {
		t.Fatalf("DefaultConfig() = %+v, want {256 3}", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", Config{256, 3}, true},
		{"one partition", Config{1, 1}, true},
		{"two partitions", Config{2, 3}, true},
		{"max partitions", Config{MaxPartitions, 3}, true},
		{"N larger than usual", Config{64, 7}, true},
		{"zero partitions", Config{0, 3}, false},
		{"negative partitions", Config{-256, 3}, false},
		{"not a power of two", Config{1000, 3}, false},
		{"three", Config{3, 3}, false},
		{"too many partitions", Config{2 * MaxPartitions, 3}, false},
		{"zero N", Config{256, 0}, false},
		{"negative N", Config{256, -1}, false},
		{"zero value", Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", tt.cfg, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Validate(%+v) = %v, want ErrBadConfig", tt.cfg, err)
			}
		})
	}
}
