//! Zelfredzaamheidsmatrix (ZRM) assessments and the life domains they score.

use std::collections::BTreeMap;

use automerge::{ObjId, ObjType, ReadDoc};
use serde::{Deserialize, Serialize};
use time::Date;

use super::string_enum;
use crate::am::{Reader, malformed};
use crate::error::Result;
use crate::ids::{AssessmentId, MemberId};
use crate::item::ItemRef;

string_enum!(
    /// Life domains, as named by either ZRM version. Conversations use the same list for
    /// the domains discussed.
    LifeDomain {
        /// Financiën.
        Financien => "financien" / "financiën",
        /// Werk & opleiding (13-domain version).
        WerkOpleiding => "werk_opleiding" / "werk & opleiding",
        /// Dagbesteding (11-domain version).
        Dagbesteding => "dagbesteding" / "dagbesteding",
        /// Tijdsbesteding (13-domain version's name for dagbesteding).
        Tijdsbesteding => "tijdsbesteding" / "tijdsbesteding",
        /// Huisvesting.
        Huisvesting => "huisvesting" / "huisvesting",
        /// Huiselijke relaties.
        HuiselijkeRelaties => "huiselijke_relaties" / "huiselijke relaties",
        /// Geestelijke gezondheid.
        GeestelijkeGezondheid => "geestelijke_gezondheid" / "geestelijke gezondheid",
        /// Lichamelijke gezondheid.
        LichamelijkeGezondheid => "lichamelijke_gezondheid" / "lichamelijke gezondheid",
        /// Verslaving (11-domain version).
        Verslaving => "verslaving" / "verslaving",
        /// Middelengebruik (13-domain version's name for verslaving).
        Middelengebruik => "middelengebruik" / "middelengebruik",
        /// ADL (11-domain version).
        Adl => "adl" / "ADL",
        /// Basale ADL (13-domain version).
        BasaleAdl => "basale_adl" / "basale ADL",
        /// Instrumentele ADL (13-domain version).
        InstrumenteleAdl => "instrumentele_adl" / "instrumentele ADL",
        /// Sociaal netwerk.
        SociaalNetwerk => "sociaal_netwerk" / "sociaal netwerk",
        /// Maatschappelijke participatie.
        MaatschappelijkeParticipatie => "maatschappelijke_participatie" / "maatschappelijke participatie",
        /// Justitie.
        Justitie => "justitie" / "justitie",
    }
);

string_enum!(
    /// The ZRM version an assessment was made with.
    ZrmVersion {
        /// The 11-domain version.
        Elf => "zrm11" / "ZRM (11 domeinen)",
        /// The 13-domain version.
        Dertien => "zrm13" / "ZRM (13 domeinen)",
    }
);

impl ZrmVersion {
    /// The domains this version scores.
    pub fn domains(self) -> &'static [LifeDomain] {
        use LifeDomain::*;
        match self {
            ZrmVersion::Elf => &[
                Financien,
                Dagbesteding,
                Huisvesting,
                HuiselijkeRelaties,
                GeestelijkeGezondheid,
                LichamelijkeGezondheid,
                Verslaving,
                Adl,
                SociaalNetwerk,
                MaatschappelijkeParticipatie,
                Justitie,
            ],
            ZrmVersion::Dertien => &[
                Financien,
                WerkOpleiding,
                Tijdsbesteding,
                Huisvesting,
                HuiselijkeRelaties,
                GeestelijkeGezondheid,
                LichamelijkeGezondheid,
                Middelengebruik,
                BasaleAdl,
                InstrumenteleAdl,
                SociaalNetwerk,
                MaatschappelijkeParticipatie,
                Justitie,
            ],
        }
    }
}

/// One ZRM assessment: a snapshot in time, kept as part of a series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZrmAssessment {
    /// Identifier.
    pub id: AssessmentId,
    /// The version used.
    pub version: ZrmVersion,
    /// The day of the assessment.
    pub date: Date,
    /// Score 1 (acute problems) to 5 (fully self-sufficient) per domain scored.
    pub scores: BTreeMap<LifeDomain, u8>,
    /// Who assessed.
    pub assessed_by: MemberId,
}

/// Input for a new assessment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAssessment {
    /// The version used.
    pub version: ZrmVersion,
    /// The day of the assessment.
    pub date: Date,
    /// Scores per domain.
    pub scores: BTreeMap<LifeDomain, u8>,
}

pub(super) fn read_assessment<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    id: AssessmentId,
    obj: &ObjId,
) -> Result<ZrmAssessment> {
    let item = ItemRef::Assessment(id.clone());
    let mut scores = BTreeMap::new();
    if let Some(map) = r.object(obj, "scores", ObjType::Map)? {
        for d in LifeDomain::ALL {
            if let Some(s) = r.opt_i64(&map, d.as_str(), &item)? {
                let s = u8::try_from(s).map_err(|_| malformed(&item, "scores"))?;
                scores.insert(*d, s);
            }
        }
    }
    Ok(ZrmAssessment {
        version: r.enum_(obj, "version", &item)?,
        date: r.date(obj, "date", &item)?,
        scores,
        assessed_by: r.id(obj, "assessed_by", &item)?,
        id,
    })
}
