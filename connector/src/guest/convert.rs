//! Conversions between the crate's types and the WIT types (see [`crate::wit_conversions`]).

crate::wit_conversions!(super::wit);
