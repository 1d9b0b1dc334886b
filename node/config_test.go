package node

import (
	"strings"
	"testing"
)

func TestFillAdvertiseForWildcardBinds(t *testing.T) {
	base := DefaultConfig()
	base.HTTPAddr, base.RPCAddr, base.GossipAddr = "127.0.0.1:8001", "127.0.0.1:9001", "127.0.0.1:7001"
	found := func() (string, error) { return "10.0.0.7", nil }
	none := func() (string, error) { return "", nil }
	cfg := base
	if err := cfg.fillAdvertise(found); err != nil || cfg.AdvertiseHost != "" {
		t.Fatalf("loopback binds: advertise %q, %v; want nothing changed", cfg.AdvertiseHost, err)
	}
	for _, addr := range []string{"0.0.0.0:8001", "[::]:8001", ":8001"} {
		cfg := base
		cfg.HTTPAddr = addr
		if err := cfg.fillAdvertise(found); err != nil || cfg.AdvertiseHost != "10.0.0.7" {
			t.Errorf("%s: advertise %q, %v; want the private IP", addr, cfg.AdvertiseHost, err)
		}
		cfg.AdvertiseHost = ""
		err := cfg.fillAdvertise(none)
		if err == nil || !strings.Contains(err.Error(), "--advertise-host") {
			t.Errorf("%s with no private IP: %v; want an error naming --advertise-host", addr, err)
		}
		cfg.AdvertiseHost = "db1.example"
		if err := cfg.fillAdvertise(none); err != nil || cfg.AdvertiseHost != "db1.example" {
			t.Errorf("%s with --advertise-host given: %q, %v", addr, cfg.AdvertiseHost, err)
		}
	}
}

func TestResolveAdvertise(t *testing.T) {
	for host, want := range map[string]string{"10.1.2.3": "10.1.2.3", "fd00::7": "fd00::7", "localhost": "127.0.0.1"} {
		got, err := resolveAdvertise(host)
		if err != nil || got != want {
			t.Errorf("resolveAdvertise(%q) = %q, %v; want %q", host, got, err, want)
		}
	}
	if _, err := resolveAdvertise("no-such-host.invalid"); err == nil || !strings.Contains(err.Error(), "--advertise-host") {
		t.Errorf("an unresolvable name: %v; want an error naming the flag", err)
	}
}
