//! placeholder until the lexer lands
