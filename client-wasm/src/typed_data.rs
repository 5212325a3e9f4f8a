//! EIP-712 hashing of a dapp's typed data, for the EIP-1193 provider's `eth_signTypedData_v4`.
//!
//! Written out by hand rather than taken from alloy-dyn-abi: that crate reaches the same hash through a type
//! parser (winnow), a type resolver and dynamic ABI values, about 45 KB of the browser's .wasm for this one method,
//! while the whole package must stay under 150 KiB gzipped. What is here follows alloy-dyn-abi's
//! `TypedData::eip712_signing_hash` (and so MetaMask's eth-sig-util, v4) rule for rule: the domain separator from the
//! `EIP712Domain` fields the domain has, `encodeType` with the referenced structs sorted after the primary one, and
//! `encodeData` coercing JSON the way alloy-dyn-abi does (numbers or decimal/`0x` strings for integers, hex for
//! bytes). The tests check both give the same hash, alloy-dyn-abi being a dev-dependency.

use std::borrow::Cow;

use alloy_primitives::{hex, keccak256, Address, B256, I256, U256};
use alloy_sol_types::Eip712Domain;
use serde_json::{Map, Value};

/// A typed-data document (`{types, primaryType, domain, message}`) whose types have been checked.
#[derive(Debug)]
pub(crate) struct TypedData<'a> {
    pub domain: Eip712Domain,
    types: &'a Map<String, Value>,
    primary: &'a str,
    message: Option<&'a Value>,
}

type Res<T> = Result<T, String>;

impl<'a> TypedData<'a> {
    /// Reads a document: the domain's fields, and every type's fields as `{name, type}` with a valid type.
    pub fn parse(value: &'a Value) -> Res<TypedData<'a>> {
        let doc = value.as_object().ok_or("the typed data is not an object")?;
        let types = doc
            .get("types")
            .and_then(Value::as_object)
            .ok_or("the typed data has no types object")?;
        for (name, fields) in types {
            if !valid_type(name) {
                return Err(format!("{name:?} is not a type name"));
            }
            let fields = fields
                .as_array()
                .ok_or_else(|| format!("the fields of {name} are not an array"))?;
            for field in fields {
                let ty = field.get("type").and_then(Value::as_str);
                let ok = field.get("name").and_then(Value::as_str).is_some();
                if !(ok && ty.is_some_and(valid_type)) {
                    return Err(format!("{name} has a field without a name or a valid type"));
                }
            }
        }
        let primary = doc
            .get("primaryType")
            .and_then(Value::as_str)
            .ok_or("the typed data has no primaryType")?;
        Ok(TypedData {
            domain: domain(doc.get("domain"))?,
            types,
            primary,
            message: doc.get("message"),
        })
    }

    /// `keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(message))`; only the separator when the primary type is
    /// the domain itself (as eth-sig-util does).
    pub fn signing_hash(&self) -> Res<B256> {
        let mut buf = Vec::with_capacity(66);
        buf.extend_from_slice(&[0x19, 0x01]);
        buf.extend_from_slice(self.domain.separator().as_slice());
        if self.primary != "EIP712Domain" {
            if !valid_root(self.primary) || basic(self.primary).is_some() {
                return Err(format!("the primary type {} is not a struct", self.primary));
            }
            let message = self.message.unwrap_or(&Value::Null);
            buf.extend_from_slice(self.struct_hash(self.primary, message)?.as_slice());
        }
        Ok(keccak256(&buf))
    }

    /// The fields of struct `name`, as `(type, name)`.
    fn fields(&self, name: &str) -> Option<Vec<(&'a str, &'a str)>> {
        let fields = self.types.get(name)?.as_array()?;
        Some(
            fields
                .iter()
                .filter_map(|f| Some((f.get("type")?.as_str()?, f.get("name")?.as_str()?)))
                .collect(),
        )
    }

    /// `encodeType`: the struct, then every struct it references (at any depth) sorted, each as
    /// `Name(type name,…)`. A cycle is refused, as alloy-dyn-abi refuses it when it encodes the data.
    fn encode_type(&self, name: &str) -> Res<String> {
        let mut found: Vec<String> = Vec::new();
        let mut stack: Vec<&str> = Vec::new();
        self.collect(name, &mut found, &mut stack)?;
        found[1..].sort_unstable();
        Ok(found.concat())
    }

    fn collect<'s>(
        &'s self,
        name: &'s str,
        found: &mut Vec<String>,
        stack: &mut Vec<&'s str>,
    ) -> Res<()> {
        let Some(fields) = self.fields(name) else {
            // Not a struct: a basic type needs no definition.
            let root = normalize(name);
            return match basic(root) {
                Some(_) => Ok(()),
                None => Err(format!("the type {name} is not defined")),
            };
        };
        if stack.contains(&name) {
            return Err(format!("the type {name} refers to itself"));
        }
        let text = format!(
            "{name}({})",
            fields
                .iter()
                .map(|(ty, field)| format!("{ty} {field}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        if found.contains(&text) {
            return Ok(());
        }
        found.push(text);
        stack.push(name);
        for (ty, _) in fields {
            let root = ty.split_once('[').map_or(ty, |(root, _)| root);
            self.collect(root, found, stack)?;
        }
        stack.pop();
        Ok(())
    }

    /// `hashStruct`: `keccak256(typeHash ‖ encodeData)`.
    fn struct_hash(&self, name: &str, value: &Value) -> Res<B256> {
        let mut buf = keccak256(self.encode_type(name)?).to_vec();
        let object = value
            .as_object()
            .ok_or_else(|| format!("{name}: {value} is not an object"))?;
        for (ty, field) in self.fields(name).unwrap_or_default() {
            let item = object
                .get(field)
                .ok_or_else(|| format!("{name}: no {field}"))?;
            let word = self
                .encode_value(ty, item)
                .map_err(|e| format!("{name}.{field}: {e}"))?;
            buf.extend_from_slice(word.as_slice());
        }
        Ok(keccak256(&buf))
    }

    /// One field's 32-byte word in `encodeData`.
    fn encode_value(&self, ty: &str, value: &Value) -> Res<B256> {
        let unfit = || format!("{value} is not a {ty}");
        if let Some(inner) = ty.strip_suffix(']') {
            // The last dimension is the outer one: `T[2][]` is a list of pairs.
            let (element, size) = inner.rsplit_once('[').ok_or_else(unfit)?;
            let items = value.as_array().ok_or_else(unfit)?;
            if !size.is_empty() && size.parse::<usize>().ok() != Some(items.len()) {
                return Err(unfit());
            }
            let mut buf = Vec::with_capacity(items.len() * 32);
            for item in items {
                buf.extend_from_slice(self.encode_value(element, item)?.as_slice());
            }
            return Ok(keccak256(&buf));
        }
        let Some(kind) = basic(normalize(ty)) else {
            if ty.starts_with('(') || self.fields(ty).is_none() {
                return Err(format!("the type {ty} is not defined"));
            }
            return self.struct_hash(ty, value);
        };
        let text = value.as_str();
        let word = match kind {
            Basic::Bool => {
                let b = value
                    .as_bool()
                    .or_else(|| text.and_then(|t| t.parse().ok()))
                    .ok_or_else(unfit)?;
                B256::with_last_byte(b as u8)
            }
            Basic::Uint(bits) => {
                let n = match value.as_u64() {
                    Some(n) => U256::from(n),
                    None => text.and_then(|t| t.parse().ok()).ok_or_else(unfit)?,
                };
                if n.bit_len() > bits {
                    return Err(unfit());
                }
                B256::from(n)
            }
            Basic::Int(bits) => {
                let n = match (value.as_i64(), value.as_u64()) {
                    (Some(n), _) => I256::try_from(n).map_err(|_| unfit())?,
                    (None, Some(n)) => I256::try_from(n).map_err(|_| unfit())?,
                    _ => text.and_then(|t| t.parse().ok()).ok_or_else(unfit)?,
                };
                if n.bits() as usize > bits {
                    return Err(unfit());
                }
                B256::from(n.into_raw())
            }
            Basic::FixedBytes(len) => {
                let bytes = text.and_then(|t| hex::decode(t).ok()).ok_or_else(unfit)?;
                if bytes.len() != len {
                    return Err(unfit());
                }
                B256::right_padding_from(&bytes)
            }
            Basic::Address => text
                .and_then(|t| t.parse::<Address>().ok())
                .ok_or_else(unfit)?
                .into_word(),
            Basic::Function => {
                let bytes = text.and_then(|t| hex::decode(t).ok()).ok_or_else(unfit)?;
                if bytes.len() != 24 {
                    return Err(unfit());
                }
                B256::right_padding_from(&bytes)
            }
            Basic::String => keccak256(text.ok_or_else(unfit)?),
            Basic::Bytes => keccak256(match text {
                Some(t) => hex::decode(t).map_err(|_| unfit())?,
                None => value
                    .as_array()
                    .ok_or_else(unfit)?
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(unfit)?,
            }),
        };
        Ok(word)
    }
}

/// The atomic and dynamic types of Solidity that EIP-712 encodes without a struct definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basic {
    Bool,
    Uint(usize),
    Int(usize),
    FixedBytes(usize),
    Address,
    Function,
    String,
    Bytes,
}

/// A root type name as alloy's EIP-712 parser reads it: `uint` and `int` are 256 bits, and `Library.Enum` is an
/// enum, a `uint8`.
fn normalize(root: &str) -> &str {
    match root {
        "uint" => "uint256",
        "int" => "int256",
        _ if root.contains('.') => "uint8",
        _ => root,
    }
}

fn basic(root: &str) -> Option<Basic> {
    Some(match root {
        "bool" => Basic::Bool,
        "address" => Basic::Address,
        "function" => Basic::Function,
        "string" => Basic::String,
        "bytes" => Basic::Bytes,
        _ => {
            let size = |digits: &str| digits.parse::<usize>().ok().filter(|n| *n != 0);
            if let Some(n) = root.strip_prefix("bytes").and_then(size) {
                return (n <= 32).then_some(Basic::FixedBytes(n));
            }
            let (unsigned, rest) = match root.strip_prefix('u') {
                Some(rest) => (true, rest),
                None => (false, root),
            };
            let n = rest
                .strip_prefix("int")
                .and_then(size)
                .filter(|n| *n <= 256 && n.is_multiple_of(8))?;
            if unsigned {
                Basic::Uint(n)
            } else {
                Basic::Int(n)
            }
        }
    })
}

/// An identifier as EIP-712 type names have them (Solidity's, with `$` and `:`), optionally `Library.Enum`.
fn valid_root(root: &str) -> bool {
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | ':'))
    };
    match root.split_once('.') {
        Some((library, name)) => ident(library) && ident(name),
        None => ident(root),
    }
}

/// A type: a root name (or a tuple, which is accepted here and refused when encoded) and array dimensions.
fn valid_type(ty: &str) -> bool {
    if ty.starts_with('(') {
        return true;
    }
    let (root, mut dims) = match ty.find('[') {
        Some(i) => ty.split_at(i),
        None => (ty, ""),
    };
    while let Some(rest) = dims.strip_prefix('[') {
        let Some((size, after)) = rest.split_once(']') else {
            return false;
        };
        if !size.is_empty() && size.parse::<usize>().is_err() {
            return false;
        }
        dims = after;
    }
    dims.is_empty() && valid_root(root)
}

/// The `EIP712Domain` fields a domain object has; an absent domain has none.
fn domain(value: Option<&Value>) -> Res<Eip712Domain> {
    let Some(value) = value else {
        return Ok(Eip712Domain::default());
    };
    let domain = value.as_object().ok_or("the domain is not an object")?;
    let given = |name: &str| domain.get(name).filter(|v| !v.is_null());
    let bad = |name: &str| format!("domain.{name} is not valid");
    let text = |name: &str| -> Res<Option<Cow<'static, str>>> {
        given(name)
            .map(|v| {
                v.as_str()
                    .map(|s| Cow::Owned(s.to_string()))
                    .ok_or_else(|| bad(name))
            })
            .transpose()
    };
    let fixed = |name: &str, len: usize| -> Res<Option<Vec<u8>>> {
        given(name)
            .map(|v| {
                match v {
                    Value::String(s) => hex::decode(s).ok(),
                    Value::Array(items) => items
                        .iter()
                        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect(),
                    _ => None,
                }
                .filter(|b| b.len() == len)
                .ok_or_else(|| bad(name))
            })
            .transpose()
    };
    let chain_id = given("chainId")
        .map(|v| {
            match v {
                Value::Number(n) => n.as_u64().map(U256::from),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| bad("chainId"))
        })
        .transpose()?;
    Ok(Eip712Domain {
        name: text("name")?,
        version: text("version")?,
        chain_id,
        verifying_contract: fixed("verifyingContract", 20)?.map(|b| Address::from_slice(&b)),
        salt: fixed("salt", 32)?.map(|b| B256::from_slice(&b)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// alloy-dyn-abi's hash of `doc`, or its error.
    fn alloy(doc: &Value) -> Result<B256, String> {
        let typed: alloy_dyn_abi::TypedData =
            serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
        typed.eip712_signing_hash().map_err(|e| e.to_string())
    }

    fn ours(doc: &Value) -> Result<B256, String> {
        TypedData::parse(doc)?.signing_hash()
    }

    fn domain_types() -> Value {
        json!([
            { "name": "name", "type": "string" },
            { "name": "version", "type": "string" },
            { "name": "chainId", "type": "uint256" },
            { "name": "verifyingContract", "type": "address" },
        ])
    }

    fn mail() -> Value {
        json!({
            "types": {
                "EIP712Domain": domain_types(),
                "Person": [
                    { "name": "name", "type": "string" },
                    { "name": "wallet", "type": "address" },
                ],
                "Mail": [
                    { "name": "from", "type": "Person" },
                    { "name": "to", "type": "Person" },
                    { "name": "contents", "type": "string" },
                ],
            },
            "primaryType": "Mail",
            "domain": {
                "name": "Ether Mail",
                "version": "1",
                "chainId": 1,
                "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
            },
            "message": {
                "from": { "name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
                "to": { "name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
                "contents": "Hello, Bob!",
            },
        })
    }

    #[test]
    fn the_eip712_mail_example_hashes_as_the_eip_says() {
        let expected: B256 = "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
            .parse()
            .expect("hash");
        assert_eq!(ours(&mail()), Ok(expected));
        assert_eq!(alloy(&mail()), Ok(expected));
    }

    #[test]
    fn hashes_agree_with_alloy_dyn_abi() {
        let permit = json!({
            "types": {
                "EIP712Domain": domain_types(),
                "Permit": [
                    { "name": "owner", "type": "address" },
                    { "name": "spender", "type": "address" },
                    { "name": "value", "type": "uint256" },
                    { "name": "nonce", "type": "uint256" },
                    { "name": "deadline", "type": "uint256" },
                ],
            },
            "primaryType": "Permit",
            "domain": {
                "name": "Dai Stablecoin",
                "version": "1",
                "chainId": "0x7a69",
                "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            },
            "message": {
                "owner": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "spender": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "value": "1000000000000000000000",
                "nonce": 0,
                "deadline": "0xffffffffffffffff",
            },
        });
        let everything = json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "salt", "type": "bytes32" },
                ],
                "Order": [
                    { "name": "maker", "type": "Party" },
                    { "name": "legs", "type": "Leg[]" },
                    { "name": "grid", "type": "int16[2][]" },
                    { "name": "tags", "type": "string[]" },
                    { "name": "payload", "type": "bytes" },
                    { "name": "raw", "type": "bytes" },
                    { "name": "id", "type": "bytes4" },
                    { "name": "flag", "type": "bool" },
                    { "name": "text_flag", "type": "bool" },
                    { "name": "small", "type": "uint8" },
                    { "name": "alias", "type": "uint" },
                    { "name": "negative", "type": "int256" },
                    { "name": "negative_text", "type": "int64" },
                    { "name": "kind", "type": "Lib.Kind" },
                ],
                "Party": [
                    { "name": "who", "type": "address" },
                    { "name": "$label", "type": "string" },
                ],
                "Leg": [
                    { "name": "asset", "type": "address" },
                    { "name": "amount", "type": "uint128" },
                    { "name": "party", "type": "Party" },
                ],
                "Unused": [{ "name": "x", "type": "uint256" }],
            },
            "primaryType": "Order",
            "domain": {
                "name": "Exchange",
                "chainId": 31337,
                "salt": "0x0101010101010101010101010101010101010101010101010101010101010101",
                "ignored": true,
            },
            "message": {
                "maker": { "who": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "$label": "maker" },
                "legs": [
                    { "asset": "0x0000000000000000000000000000000000000000", "amount": 5,
                      "party": { "who": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "$label": "" } },
                    { "asset": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "amount": "340282366920938463463374607431768211455",
                      "party": { "who": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "$label": "ünïcödé" } },
                ],
                "grid": [[1, -2], ["-32768", "0x7fff"]],
                "tags": ["a", "b", ""],
                "payload": "0xdeadbeef",
                "raw": [1, 2, 255],
                "id": "0x12345678",
                "flag": true,
                "text_flag": "false",
                "small": 255,
                "alias": "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                "negative": -1,
                "negative_text": "-9223372036854775808",
                "kind": 2,
                "extra": "ignored",
            },
        });
        let empty_domain = json!({
            "types": { "EIP712Domain": [], "Empty": [] },
            "primaryType": "Empty",
            "domain": {},
            "message": {},
        });
        let domain_only = json!({
            "types": { "EIP712Domain": domain_types() },
            "primaryType": "EIP712Domain",
            "domain": { "name": "example.metamask.io", "version": "1", "chainId": 1,
                        "verifyingContract": "0x0000000000000000000000000000000000000000" },
            "message": {},
        });
        // Nested structs referenced both directly and through arrays, and names that sort after a prefix.
        let sorting = json!({
            "types": {
                "Z": [{ "name": "b", "type": "Bb" }, { "name": "a", "type": "A[1]" }, { "name": "ab", "type": "AB" }],
                "A": [{ "name": "x", "type": "bytes32" }],
                "AB": [{ "name": "a", "type": "A" }],
                "Bb": [{ "name": "n", "type": "int8" }],
            },
            "primaryType": "Z",
            "message": {
                "b": { "n": -128 },
                "a": [{ "x": "0x0000000000000000000000000000000000000000000000000000000000000001" }],
                "ab": { "a": { "x": "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00" } },
            },
        });
        for doc in [
            mail(),
            permit,
            everything,
            empty_domain,
            domain_only,
            sorting,
        ] {
            let expected = alloy(&doc).expect("alloy-dyn-abi hashes it");
            assert_eq!(ours(&doc), Ok(expected), "{doc}");
        }
    }

    #[test]
    fn what_alloy_dyn_abi_refuses_is_refused() {
        let with = |pointer: &str, value: Value| {
            let mut doc = mail();
            *doc.pointer_mut(pointer).expect("a field of the example") = value;
            doc
        };
        let refused = [
            with("/message/contents", json!(7)),
            with("/message/from/wallet", json!("0x1234")),
            with("/message/to", json!("Bob")),
            with("/primaryType", json!("Letter")),
            with("/primaryType", json!("uint256")),
            with("/types/Mail/0/type", json!("Persona")),
            with("/types/Mail/0/type", json!("uint7")),
            with("/types/Person/1/type", json!("Mail")),
            with("/types/Person/1/type", json!("Person")),
            with("/types/Person/0/type", json!("string[")),
            with("/domain/chainId", json!(-1)),
            with("/domain/chainId", json!("one")),
            with("/domain/version", json!(1)),
            with("/domain/verifyingContract", json!("0x00")),
            with("/domain", json!("Ether Mail")),
        ];
        for doc in refused {
            assert!(alloy(&doc).is_err(), "alloy-dyn-abi takes {doc}");
            assert!(ours(&doc).is_err(), "this takes {doc}");
        }
        // Sizes and ranges.
        let typed = |ty: &str, value: Value| {
            json!({
                "types": { "T": [{ "name": "v", "type": ty }] },
                "primaryType": "T",
                "message": { "v": value },
            })
        };
        for (ty, value) in [
            ("uint8", json!(256)),
            ("uint8", json!("0x100")),
            ("int8", json!(128)),
            ("int8", json!("-129")),
            ("uint256", json!(-1)),
            ("uint256", json!(1.5)),
            ("bytes2", json!("0x123456")),
            ("bytes", json!("not hex")),
            ("bytes", json!([256])),
            ("bool", json!(1)),
            (
                "address[2]",
                json!(["0x0000000000000000000000000000000000000000"]),
            ),
            ("string", json!(null)),
        ] {
            let doc = typed(ty, value);
            assert!(alloy(&doc).is_err(), "alloy-dyn-abi takes {doc}");
            assert!(ours(&doc).is_err(), "this takes {doc}");
        }
        for (ty, value) in [
            ("uint8", json!(255)),
            ("int8", json!("-128")),
            ("bytes2", json!("1234")),
            (
                "address[2]",
                json!([
                    "0x0000000000000000000000000000000000000000",
                    "0x0000000000000000000000000000000000000001"
                ]),
            ),
            (
                "function",
                json!("0x0102030405060708091011121314151617181920aabbccdd"),
            ),
            ("int", json!("-0x10")),
            ("uint", json!("0b101")),
        ] {
            let doc = typed(ty, value);
            assert_eq!(ours(&doc), alloy(&doc), "{doc}");
            assert!(ours(&doc).is_ok(), "{doc}");
        }
    }
}
