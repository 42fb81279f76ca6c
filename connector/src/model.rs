//! The records an import produces, as plain Rust: the guest glue converts them to the WIT
//! types, and native callers (tests, benchmarks) use them directly.

/// A link from an account to one entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntitlementRef {
    /// The entitlement type (`Role`, `Entity`).
    pub entitlement_type: String,
    /// The entitlement's value.
    pub value: String,
}

/// An account as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// The value of the reconciliation column; the account's identity.
    pub name: String,
    /// Mapped columns, in mapping order.
    pub columns: Vec<(String, String)>,
    /// Links, in response order, without duplicates.
    pub entitlements: Vec<EntitlementRef>,
}

impl Account {
    /// The value of a column, matched case-insensitively (Saviynt column names are).
    pub fn column(&self, name: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(column, _)| column.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An entitlement as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// The entitlement type.
    pub entitlement_type: String,
    /// Its `entitlement_value`.
    pub value: String,
    /// The other mapped columns, in mapping order.
    pub columns: Vec<(String, String)>,
}

/// Which calls of the import plan run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportScope {
    /// ACCOUNTS and EACHACCOUNT calls.
    Accounts,
    /// ENTITLEMENTS calls.
    Access,
    /// Every call.
    All,
}

/// A bounded part of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Complete accounts from an ACCOUNTS call.
    Accounts(Vec<Account>),
    /// Columns and links to merge into accounts this import already delivered.
    AccountDetails(Vec<Account>),
    /// Entitlements from an ENTITLEMENTS call.
    Entitlements(Vec<Entitlement>),
}

impl Batch {
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        match self {
            Batch::Accounts(records) | Batch::AccountDetails(records) => records.len(),
            Batch::Entitlements(records) => records.len(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
