package dataset

import (
	"math/rand/v2"
	"strings"
)

// words is the prose vocabulary; its size (256) also gives entity names a
// unique, dense encoding (three words per name).
var words = [256]string{
	"river", "harbor", "lantern", "meadow", "copper", "signal", "archive", "engine", "falcon", "garden", "harvest",
	"island", "journal", "kernel", "ledger", "marble", "network", "orchard", "pattern", "quarry", "rocket", "saddle",
	"timber", "umbrella", "valley", "window", "zephyr", "anchor", "beacon", "canyon", "delta", "ember",
	"fabric", "glacier", "hollow", "insight", "jasper", "keystone", "lattice", "mantle", "nectar", "oracle", "prism",
	"quartz", "ripple", "summit", "tunnel", "upland", "vertex", "willow", "xylem", "zenith", "atlas", "bramble",
	"cinder", "dynamo", "estuary", "fjord", "gazette", "horizon", "ivory", "juniper", "lagoon", "mosaic",
	"nebula", "obsidian", "pavilion", "quiver", "rampart", "sextant", "trellis", "utopia", "vortex", "wharf", "xenon",
	"zodiac", "alloy", "bastion", "cobalt", "dune", "eclipse", "fresco", "granite", "heron", "indigo", "jetty",
	"kestrel", "lumen", "meridian", "nomad", "onyx", "pinnacle", "quill", "relic", "sapphire", "tundra", "umber",
	"velvet", "warden", "zircon", "amber", "basalt", "cedar", "drift", "elm", "flint", "grove", "hatch", "iris",
	"jade", "knoll", "lotus", "moss", "niche", "opal", "pebble", "reef", "slate", "thicket", "vault",
	"wren", "zinc", "acre", "brook", "cairn", "dell", "eddy", "fern", "glen", "heath", "inlet", "jay", "kelp",
	"loom", "mire", "nook", "oasis", "pier", "quest", "ridge", "shoal", "tarn", "vale", "weald", "axis", "bay", "cove",
	"dock", "edge", "ford", "gate", "hill", "isle", "knot", "lane", "mill", "node", "oak", "pond", "rail",
	"sand", "tide", "unit", "vane", "wave", "yard", "zone", "arch", "barn", "clay", "dam", "farm", "gold",
	"inn", "joint", "keel", "lake", "mast", "nest", "path", "root", "salt", "tower", "vine", "well",
	"west", "north", "south", "bridge", "castle", "forge", "market", "temple", "station", "museum", "library", "school",
	"factory", "council", "guild", "order", "society", "company", "agency", "bureau", "college", "academy", "league",
	"union", "alliance", "treaty", "charter", "protocol", "method", "theory", "model", "system", "process", "policy",
	"report", "survey", "study", "review", "project", "program", "platform", "service", "product", "device", "sensor",
	"circuit", "battery", "turbine", "reactor", "satellite", "telescope", "compass", "map", "chart", "index", "catalog",
	"record", "letter", "manuscript", "volume", "chapter", "verse", "café", "über", "naïve", "façade", "smörgås", "東京",
	"数据", "知识", "グラフ",
}

var connectives = []string{"the", "a", "of", "and", "in", "to", "with", "for", "on", "by", "from", "near", "across", "under", "through"}

var entityTypes = []string{"person", "organization", "location", "event", "concept", "method", "artifact", "category", "data", "equipment"}

var relationVerbs = []string{"supports", "depends on", "is located in", "was founded by", "collaborates with", "describes",
	"influences", "is part of", "precedes", "measures", "contains", "regulates"}

// textGen makes deterministic prose from a seeded source.
type textGen struct{ rng *rand.Rand }

func (g textGen) word() string { return words[g.rng.IntN(len(words))] }

// sentence writes one sentence of n words into b.
func (g textGen) sentence(b *strings.Builder, n int) {
	for i := range n {
		w := g.word()
		if i%3 == 1 {
			w = connectives[g.rng.IntN(len(connectives))]
		}
		if i == 0 && w[0] < 0x80 {
			b.WriteString(strings.ToUpper(w[:1]))
			b.WriteString(w[1:])
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	b.WriteString(". ")
}

// prose returns about chars characters of sentences, with paragraph breaks.
func (g textGen) prose(chars int) string {
	var b strings.Builder
	b.Grow(chars + 128)
	for b.Len() < chars {
		g.sentence(&b, 8+g.rng.IntN(14))
		if g.rng.IntN(6) == 0 {
			b.WriteString("\n\n")
		}
	}
	return strings.TrimSpace(b.String())
}

// entityName is unique for every i < 2^24: i is permuted (an odd multiplier
// is a bijection mod 2^24) and its three bytes pick three words.
func entityName(i int) string {
	p := (uint32(i)*0x9E3779B1 + 0x5bd1e995) & 0xffffff
	parts := [3]string{words[p>>16], words[(p>>8)&0xff], words[p&0xff]}
	for k, w := range parts {
		if w[0] < 0x80 {
			parts[k] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return parts[0] + " " + parts[1] + " " + parts[2]
}
