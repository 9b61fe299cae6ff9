"""properties: the property suite that checks any Choir implementation against `choir_model`.

Everything that executes Choir is a `Driver` (`properties.driver`); everything that checks Choir talks to
drivers: the Hypothesis machines, the soak runner, replay and the differential comparison."""
