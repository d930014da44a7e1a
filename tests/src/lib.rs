//! Test support: start real wavegate processes on free ports.
