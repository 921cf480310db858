//! Helpers shared by the cross-crate tests.

#![warn(missing_docs)]

use streams_dsl::prelude::*;

/// A driver for what `builder` built, under the application id `test-app`.
pub fn drive(builder: StreamsBuilder) -> TopologyTestDriver {
    let topology = builder.build().expect("the topology builds");
    TopologyTestDriver::new(topology, StreamsConfig::new("test-app")).expect("the driver starts")
}

/// `s` as an owned `String`.
pub fn s(text: &str) -> String {
    text.to_owned()
}
