//! Writers for pcap and pcapng, used by the fixture generator, the lab and
//! tests to produce exact scenarios. Not used on the analysis path.
