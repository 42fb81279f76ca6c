//! The simulated Duck Creek directory: users, entities, roles and privileges,
//! and its deterministic generator.
//!
//! [`Dataset::generate`] uses a hand-written splitmix64 generator seeded by the
//! `seed` argument, so its output depends only on `(users, seed)` and never on
//! crate versions. It is cheap: one million users take well under a second to
//! generate (in a release build).
//!
//! # Entities
//!
//! `max(5, users / 200)` entities, capped at 300, ids `1..`:
//!
//! | id | name | kind |
//! | --- | --- | --- |
//! | 1 | `Head Office` (the root entity) | `Entity` |
//! | 2 | `R&D <Claims> "East"` | `Entity` |
//! | 3 | `Zürich Süd – Ålesund` | `Entity` |
//! | n ≥ 4, n % 4 == 0 | `Agency 004`, `Agency 008`, … | `Agency` |
//! | n ≥ 5, otherwise | `Division 005`, `Division 006`, … | `Entity` |
//!
//! Generated users are members of non-root entities only (listing the root
//! entity returns every user anyway).
//!
//! # Roles and privileges
//!
//! 24 roles (ids `1..=24`, see [`ROLE_NAMES`]), among them
//! `Underwriter "Senior" & <Lead>` (id 3) and `Régional Gestionnaire` (id 4);
//! each role holds 1–4 privilege names, chosen by the generator.
//! 40 privileges (ids `1..=40`): ten areas (`Policy`, `Claims`, `Billing`, …) ×
//! four actions (`View`, `Edit`, `Approve`, `Delete`), named `Area.Action`,
//! of type `Report` for the `Report` area, `Screen` for `View` and `Action`
//! otherwise; privilege 40 is renamed `Billing & Refunds 'Override'` (type
//! `Action`).
//!
//! # Fixed special users
//!
//! The first six users (as many as `users` allows) are always these, whatever
//! the seed:
//!
//! | id | name | fullName | email | status | entities | roles |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | 1 | `jürgen.müller` | `Jürgen Müller` | `juergen.mueller@example.com` | Active | `Zürich Süd – Ålesund`, `R&D <Claims> "East"` | `Régional Gestionnaire`, `ClaimsAdjuster` |
//! | 2 | `o'brien&co` | `Tom "T" O'Brien <Claims>` | `o'brien&co@example.com` | Active | `R&D <Claims> "East"` | `Underwriter "Senior" & <Lead>`, `Underwriter` |
//! | 3 | `dev<ops>` | `Dev <Ops> Bot` | `devops@example.com` | Locked | `Agency 004` | `SystemAdministrator` |
//! | 4 | `王伟` | `王伟` | `wang.wei@example.com` | Inactive | `Zürich Süd – Ålesund`, `Agency 004`, `Division 005` | `ClaimsAdjuster`, `Underwriter`, `Actuary`, `BillingClerk` |
//! | 5 | `party.parrot` | `Polly 🦜 Parrot` | `party.parrot@example.com` | Active | `Division 005` | `CustomerServiceRep` |
//! | 6 | `no.access` | `No Access` | `no.access@example.com` | Active | (none) | (none) |
//!
//! # Generated users
//!
//! Users `7..=N` are named `user000007` (zero-padded to six digits), with
//! email `<name>@example.com`, a full name drawn from fixed first/last name
//! lists, status ~85% `Active`, ~10% `Inactive`, ~5% `Locked`, 0–3 entity
//! memberships (mean ≈ 1.55) and 0–4 roles (mean ≈ 2.05), without duplicates;
//! about 1% of them have neither.

use serde::{Deserialize, Serialize};

/// A Duck Creek user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Numeric user id (unique).
    pub id: u64,
    /// Login name (unique).
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// `"Active"`, `"Inactive"` or `"Locked"`.
    pub status: String,
    /// Names of the entities the user is a member of.
    pub entities: Vec<String>,
    /// Names of the roles granted to the user.
    pub roles: Vec<String>,
}

/// An organisational entity (the root is "Head Office", id 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// Numeric entity id (unique).
    pub id: u64,
    /// Entity name (unique).
    pub name: String,
    /// The XML element name used when listing it: `"Entity"` or `"Agency"`.
    pub kind: String,
}

/// A security role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Numeric role id (unique).
    pub id: u64,
    /// Role name (unique).
    pub name: String,
    /// Human-readable description.
    pub description: String,
    /// Names of the privileges the role grants.
    pub privileges: Vec<String>,
}

/// A security privilege.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Privilege {
    /// Numeric privilege id (unique).
    pub id: u64,
    /// Privilege name (unique).
    pub name: String,
    /// Human-readable description.
    pub description: String,
    /// The `type` attribute: `"Screen"`, `"Action"` or `"Report"`.
    pub kind: String,
}

/// The whole simulated directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// All users, in id order as generated.
    pub users: Vec<User>,
    /// All entities; id 1 is the root.
    pub entities: Vec<Entity>,
    /// All roles.
    pub roles: Vec<Role>,
    /// All privileges.
    pub privileges: Vec<Privilege>,
}

/// The 24 role names, in id order (id = index + 1).
pub const ROLE_NAMES: [&str; 24] = [
    "ClaimsAdjuster",
    "Underwriter",
    "Underwriter \"Senior\" & <Lead>",
    "Régional Gestionnaire",
    "PolicyAdministrator",
    "BillingClerk",
    "AgencyManager",
    "ClaimsSupervisor",
    "ProductDeveloper",
    "Actuary",
    "ComplianceOfficer",
    "CustomerServiceRep",
    "FraudInvestigator",
    "ReinsuranceAnalyst",
    "PremiumAuditor",
    "LossControlInspector",
    "ReportingAnalyst",
    "SystemAdministrator",
    "SecurityAdministrator",
    "ReadOnlyAuditor",
    "CatastropheCoordinator",
    "SubrogationSpecialist",
    "DocumentManager",
    "BrokerLiaison",
];

const ROLE_DESCRIPTIONS: [&str; 24] = [
    "Investigates and settles claims",
    "Assesses and prices risks",
    "Leads the underwriting team & signs off large risks",
    "Gère les opérations régionales",
    "Maintains policies and endorsements",
    "Handles invoices and payments",
    "Manages an agency and its producers",
    "Supervises claims adjusters",
    "Designs insurance products",
    "Models losses and reserves",
    "Ensures regulatory compliance",
    "Answers customer enquiries",
    "Investigates suspicious claims",
    "Analyses reinsurance treaties",
    "Audits premiums",
    "Inspects insured properties",
    "Builds management reports",
    "Administers the platform",
    "Administers users and security",
    "Reads everything, changes nothing",
    "Coordinates catastrophe response",
    "Recovers paid losses from third parties",
    "Manages forms and documents",
    "Works with brokers",
];

const PRIVILEGE_AREAS: [&str; 10] = [
    "Policy",
    "Claims",
    "Billing",
    "Party",
    "Agency",
    "Reinsurance",
    "Product",
    "Document",
    "Report",
    "Security",
];

const PRIVILEGE_ACTIONS: [&str; 4] = ["View", "Edit", "Approve", "Delete"];

const SPECIAL_PRIVILEGE: &str = "Billing & Refunds 'Override'";

const FIRST_NAMES: [&str; 24] = [
    "Alice", "Bob", "Carla", "David", "Emma", "Frank", "Grace", "Hugo", "Ines", "Jack", "Karin",
    "Liam", "Maria", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor",
    "José", "Zoë",
];

const LAST_NAMES: [&str; 24] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Novak", "Garcia", "Schmidt", "Moreau",
];

/// One fixed special user: (name, full name, email, status, entity ids, role ids).
type SpecialUser = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [u64],
    &'static [usize],
);

/// The fixed special users (ids 1..=6); entity ids and role ids (1-based).
const SPECIAL_USERS: [SpecialUser; 6] = [
    (
        "jürgen.müller",
        "Jürgen Müller",
        "juergen.mueller@example.com",
        "Active",
        &[3, 2],
        &[4, 1],
    ),
    (
        "o'brien&co",
        "Tom \"T\" O'Brien <Claims>",
        "o'brien&co@example.com",
        "Active",
        &[2],
        &[3, 2],
    ),
    (
        "dev<ops>",
        "Dev <Ops> Bot",
        "devops@example.com",
        "Locked",
        &[4],
        &[18],
    ),
    (
        "王伟",
        "王伟",
        "wang.wei@example.com",
        "Inactive",
        &[3, 4, 5],
        &[1, 2, 10, 6],
    ),
    (
        "party.parrot",
        "Polly 🦜 Parrot",
        "party.parrot@example.com",
        "Active",
        &[5],
        &[12],
    ),
    (
        "no.access",
        "No Access",
        "no.access@example.com",
        "Active",
        &[],
        &[],
    ),
];

/// The splitmix64 pseudo-random generator (stable across crate versions).
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Picks `k` distinct indexes in `0..n` (requires `k <= n`), sorted.
fn pick_distinct(rng: &mut SplitMix64, k: usize, n: usize) -> Vec<usize> {
    let k = k.min(n);
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    while chosen.len() < k {
        let i = rng.below(n as u64) as usize;
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Picks a count from a cumulative percentage table.
fn pick_count(rng: &mut SplitMix64, cumulative: &[u64]) -> usize {
    let r = rng.below(100);
    cumulative
        .iter()
        .position(|&c| r < c)
        .unwrap_or(cumulative.len())
}

fn entity_name_and_kind(id: u64) -> (String, &'static str) {
    match id {
        1 => ("Head Office".to_owned(), "Entity"),
        2 => ("R&D <Claims> \"East\"".to_owned(), "Entity"),
        3 => ("Zürich Süd – Ålesund".to_owned(), "Entity"),
        n if n % 4 == 0 => (format!("Agency {n:03}"), "Agency"),
        n => (format!("Division {n:03}"), "Entity"),
    }
}

impl Dataset {
    /// Generates a deterministic dataset of `users` users from `seed`
    /// (see the module docs for its exact shape).
    pub fn generate(users: usize, seed: u64) -> Dataset {
        let mut rng = SplitMix64::new(seed);

        let entity_count = (users / 200).clamp(5, 300) as u64;
        let entities: Vec<Entity> = (1..=entity_count)
            .map(|id| {
                let (name, kind) = entity_name_and_kind(id);
                Entity {
                    id,
                    name,
                    kind: kind.to_owned(),
                }
            })
            .collect();

        let privileges: Vec<Privilege> = PRIVILEGE_AREAS
            .iter()
            .flat_map(|area| PRIVILEGE_ACTIONS.iter().map(move |action| (*area, *action)))
            .enumerate()
            .map(|(i, (area, action))| {
                let id = i as u64 + 1;
                let kind = if area == "Report" {
                    "Report"
                } else if action == "View" {
                    "Screen"
                } else {
                    "Action"
                };
                let (name, description) = if id == 40 {
                    (
                        SPECIAL_PRIVILEGE.to_owned(),
                        "Overrides refund limits & approvals".to_owned(),
                    )
                } else {
                    (
                        format!("{area}.{action}"),
                        format!("{action} {} records", area.to_lowercase()),
                    )
                };
                Privilege {
                    id,
                    name,
                    description,
                    kind: if id == 40 { "Action" } else { kind }.to_owned(),
                }
            })
            .collect();

        let roles: Vec<Role> = ROLE_NAMES
            .iter()
            .zip(ROLE_DESCRIPTIONS.iter())
            .enumerate()
            .map(|(i, (name, description))| {
                let k = 1 + rng.below(4) as usize;
                let privs = pick_distinct(&mut rng, k, privileges.len())
                    .into_iter()
                    .map(|p| privileges[p].name.clone())
                    .collect();
                Role {
                    id: i as u64 + 1,
                    name: (*name).to_owned(),
                    description: (*description).to_owned(),
                    privileges: privs,
                }
            })
            .collect();

        let mut out_users = Vec::with_capacity(users);
        for (i, special) in SPECIAL_USERS.iter().enumerate().take(users) {
            let (name, full_name, email, status, ents, rls) = *special;
            out_users.push(User {
                id: i as u64 + 1,
                name: name.to_owned(),
                email: email.to_owned(),
                full_name: full_name.to_owned(),
                status: status.to_owned(),
                entities: ents
                    .iter()
                    .map(|&e| entities[e as usize - 1].name.clone())
                    .collect(),
                roles: rls.iter().map(|&r| roles[r - 1].name.clone()).collect(),
            });
        }

        // Non-root entities are the membership pool.
        let pool = &entities[1..];
        for id in (SPECIAL_USERS.len() as u64 + 1)..=(users as u64) {
            let name = format!("user{id:06}");
            let email = format!("{name}@example.com");
            let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
            let status = match rng.below(100) {
                0..85 => "Active",
                85..95 => "Inactive",
                _ => "Locked",
            };
            let entity_count = pick_count(&mut rng, &[10, 50, 85]);
            let role_count = pick_count(&mut rng, &[10, 35, 65, 85]);
            let user_entities = pick_distinct(&mut rng, entity_count, pool.len())
                .into_iter()
                .map(|e| pool[e].name.clone())
                .collect();
            let user_roles = pick_distinct(&mut rng, role_count, roles.len())
                .into_iter()
                .map(|r| roles[r].name.clone())
                .collect();
            out_users.push(User {
                id,
                name,
                email,
                full_name: format!("{first} {last}"),
                status: status.to_owned(),
                entities: user_entities,
                roles: user_roles,
            });
        }

        Dataset {
            users: out_users,
            entities,
            roles,
            privileges,
        }
    }

    /// The user named `name`, if any.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The entity named `name`, if any.
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// The role named `name`, if any.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The privilege named `name`, if any.
    pub fn privilege(&self, name: &str) -> Option<&Privilege> {
        self.privileges.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference outputs of splitmix64 seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = Dataset::generate(500, 7);
        let b = Dataset::generate(500, 7);
        let c = Dataset::generate(500, 8);
        assert_eq!(a, b);
        assert_ne!(a.users, c.users);
    }

    #[test]
    fn shape() {
        let d = Dataset::generate(10_000, 1);
        assert_eq!(d.users.len(), 10_000);
        assert_eq!(d.entities.len(), 50);
        assert_eq!(d.roles.len(), 24);
        assert_eq!(d.privileges.len(), 40);
        assert_eq!(Dataset::generate(3, 1).entities.len(), 5);
        assert_eq!(Dataset::generate(70_000, 1).entities.len(), 300);
        assert_eq!(d.entities[0].name, "Head Office");
        assert_eq!(d.entities[3].kind, "Agency");
        assert_eq!(d.entities[3].name, "Agency 004");
        assert_eq!(d.entities[4].kind, "Entity");
        assert!(d.entity("R&D <Claims> \"East\"").is_some());
        assert!(d.entity("Zürich Süd – Ålesund").is_some());
        assert!(d.role("Underwriter \"Senior\" & <Lead>").is_some());
        assert!(d.role("Régional Gestionnaire").is_some());
        assert!(d.privilege(SPECIAL_PRIVILEGE).is_some());
        for kind in ["Screen", "Action", "Report"] {
            assert!(d.privileges.iter().any(|p| p.kind == kind));
        }
        for r in &d.roles {
            assert!((1..=4).contains(&r.privileges.len()), "{r:?}");
        }
        for (i, u) in d.users.iter().enumerate() {
            assert_eq!(u.id, i as u64 + 1);
            assert!(u.entities.len() <= 3 && u.roles.len() <= 4);
            let mut e = u.entities.clone();
            e.dedup();
            assert_eq!(e.len(), u.entities.len());
            for e in &u.entities {
                assert!(d.entity(e).is_some(), "{e}");
            }
            for r in &u.roles {
                assert!(d.role(r).is_some(), "{r}");
            }
        }
        let links: usize = d
            .users
            .iter()
            .map(|u| u.entities.len() + u.roles.len())
            .sum();
        let mean = links as f64 / d.users.len() as f64;
        assert!((3.2..3.9).contains(&mean), "mean links {mean}");
        let active = d.users.iter().filter(|u| u.status == "Active").count();
        let locked = d.users.iter().filter(|u| u.status == "Locked").count();
        assert!((8_000..9_000).contains(&active), "{active}");
        assert!((300..800).contains(&locked), "{locked}");
        let bare = d
            .users
            .iter()
            .filter(|u| u.entities.is_empty() && u.roles.is_empty())
            .count();
        assert!(bare > 10, "{bare}");
    }

    #[test]
    fn special_users() {
        let d = Dataset::generate(50, 99);
        let u = d.user("jürgen.müller").unwrap();
        assert_eq!(u.id, 1);
        assert_eq!(u.full_name, "Jürgen Müller");
        assert_eq!(
            u.entities,
            ["Zürich Süd – Ålesund", "R&D <Claims> \"East\""]
        );
        assert_eq!(u.roles, ["Régional Gestionnaire", "ClaimsAdjuster"]);
        let u = d.user("o'brien&co").unwrap();
        assert_eq!(u.full_name, "Tom \"T\" O'Brien <Claims>");
        assert_eq!(u.roles, ["Underwriter \"Senior\" & <Lead>", "Underwriter"]);
        assert_eq!(d.user("dev<ops>").unwrap().status, "Locked");
        let u = d.user("王伟").unwrap();
        assert_eq!((u.entities.len(), u.roles.len()), (3, 4));
        assert_eq!(d.user("party.parrot").unwrap().full_name, "Polly 🦜 Parrot");
        let u = d.user("no.access").unwrap();
        assert!(u.entities.is_empty() && u.roles.is_empty());
        assert_eq!(d.users[6].name, "user000007");
        assert_eq!(d.users[6].email, "user000007@example.com");
        // Small datasets keep a prefix of the special users.
        let small = Dataset::generate(2, 1);
        assert_eq!(small.users.len(), 2);
        assert_eq!(small.users[1].name, "o'brien&co");
        assert!(Dataset::generate(0, 1).users.is_empty());
    }
}
