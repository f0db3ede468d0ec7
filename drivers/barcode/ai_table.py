"""The GS1 Application Identifier table: AI -> title, data format and kind of value.

Data from the GS1 General Specifications, section 3 ("GS1 Application Identifier definitions")
and figure 7.8.5-2 (AIs with predefined length that need no FNC1 separator); titles are the
GS1 data titles. Formats use GS1 notation: ``N6`` exactly six digits, ``X..20`` up to 20
characters of GS1 character set 82, ``N3+N..15`` a fixed part followed by a variable part.
An ``n`` at the end of a 4-digit AI stands for the digits 0-9 (the implied decimal places).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind: text | numeric | date | decimal | money | money_iso | date_range | gtin
_TABLE = """
00 SSCC N18 numeric
01 GTIN N14 gtin
02 CONTENT N14 gtin
03 MTO_GTIN N14 gtin
10 BATCH/LOT X..20 text
11 PROD_DATE N6 date
12 DUE_DATE N6 date
13 PACK_DATE N6 date
15 BEST_BEFORE N6 date
16 SELL_BY N6 date
17 USE_BY N6 date
20 VARIANT N2 numeric
21 SERIAL X..20 text
22 CPV X..20 text
235 TPX X..28 text
240 ADDITIONAL_ID X..30 text
241 CUST_PART_NO X..30 text
242 MTO_VARIANT N..6 numeric
243 PCN X..20 text
250 SECONDARY_SERIAL X..30 text
251 REF_TO_SOURCE X..30 text
253 GDTI N13+X..17 text
254 GLN_EXTENSION X..20 text
255 GCN N13+N..12 numeric
30 VAR_COUNT N..8 numeric
310n NET_WEIGHT_KG N6 decimal
311n LENGTH_M N6 decimal
312n WIDTH_M N6 decimal
313n HEIGHT_M N6 decimal
314n AREA_M2 N6 decimal
315n NET_VOLUME_L N6 decimal
316n NET_VOLUME_M3 N6 decimal
320n NET_WEIGHT_LB N6 decimal
321n LENGTH_IN N6 decimal
322n LENGTH_FT N6 decimal
323n LENGTH_YD N6 decimal
324n WIDTH_IN N6 decimal
325n WIDTH_FT N6 decimal
326n WIDTH_YD N6 decimal
327n HEIGHT_IN N6 decimal
328n HEIGHT_FT N6 decimal
329n HEIGHT_YD N6 decimal
330n GROSS_WEIGHT_KG N6 decimal
331n LENGTH_M_LOG N6 decimal
332n WIDTH_M_LOG N6 decimal
333n HEIGHT_M_LOG N6 decimal
334n AREA_M2_LOG N6 decimal
335n VOLUME_L_LOG N6 decimal
336n VOLUME_M3_LOG N6 decimal
337n KG_PER_M2 N6 decimal
340n GROSS_WEIGHT_LB N6 decimal
341n LENGTH_IN_LOG N6 decimal
342n LENGTH_FT_LOG N6 decimal
343n LENGTH_YD_LOG N6 decimal
344n WIDTH_IN_LOG N6 decimal
345n WIDTH_FT_LOG N6 decimal
346n WIDTH_YD_LOG N6 decimal
347n HEIGHT_IN_LOG N6 decimal
348n HEIGHT_FT_LOG N6 decimal
349n HEIGHT_YD_LOG N6 decimal
350n AREA_IN2 N6 decimal
351n AREA_FT2 N6 decimal
352n AREA_YD2 N6 decimal
353n AREA_IN2_LOG N6 decimal
354n AREA_FT2_LOG N6 decimal
355n AREA_YD2_LOG N6 decimal
356n NET_WEIGHT_TROY_OZ N6 decimal
357n NET_VOLUME_OZ N6 decimal
360n NET_VOLUME_QT N6 decimal
361n NET_VOLUME_GAL N6 decimal
362n VOLUME_QT_LOG N6 decimal
363n VOLUME_GAL_LOG N6 decimal
364n VOLUME_IN3 N6 decimal
365n VOLUME_FT3 N6 decimal
366n VOLUME_YD3 N6 decimal
367n VOLUME_IN3_LOG N6 decimal
368n VOLUME_FT3_LOG N6 decimal
369n VOLUME_YD3_LOG N6 decimal
37 COUNT N..8 numeric
390n AMOUNT N..15 money
391n AMOUNT_ISO N3+N..15 money_iso
392n PRICE N..15 money
393n PRICE_ISO N3+N..15 money_iso
394n PRCNT_OFF N4 decimal
395n PRICE_PER_UOM N6 money
400 ORDER_NUMBER X..30 text
401 GINC X..30 text
402 GSIN N17 numeric
403 ROUTE X..30 text
410 SHIP_TO_LOC N13 numeric
411 BILL_TO N13 numeric
412 PURCHASE_FROM N13 numeric
413 SHIP_FOR_LOC N13 numeric
414 LOC_NO N13 numeric
415 PAY_TO N13 numeric
416 PROD_SERV_LOC N13 numeric
417 PARTY N13 numeric
420 SHIP_TO_POST X..20 text
421 SHIP_TO_POST_ISO N3+X..9 text
422 ORIGIN N3 numeric
423 COUNTRY_INITIAL_PROCESS N3+N..12 numeric
424 COUNTRY_PROCESS N3 numeric
425 COUNTRY_DISASSEMBLY N3+N..12 numeric
426 COUNTRY_FULL_PROCESS N3 numeric
427 ORIGIN_SUBDIVISION X..3 text
4300 SHIP_TO_COMP X..35 text
4301 SHIP_TO_NAME X..35 text
4302 SHIP_TO_ADD1 X..70 text
4303 SHIP_TO_ADD2 X..70 text
4304 SHIP_TO_SUB X..70 text
4305 SHIP_TO_LOC_NAME X..70 text
4306 SHIP_TO_REG X..70 text
4307 SHIP_TO_COUNTRY X2 text
4308 SHIP_TO_PHONE X..30 text
4309 SHIP_TO_GEO N20 numeric
4310 RTN_TO_COMP X..35 text
4311 RTN_TO_NAME X..35 text
4312 RTN_TO_ADD1 X..70 text
4313 RTN_TO_ADD2 X..70 text
4314 RTN_TO_SUB X..70 text
4315 RTN_TO_LOC X..70 text
4316 RTN_TO_REG X..70 text
4317 RTN_TO_COUNTRY X2 text
4318 RTN_TO_POST X..20 text
4319 RTN_TO_PHONE X..30 text
4320 SRV_DESCRIPTION X..35 text
4321 DANGEROUS_GOODS N1 numeric
4322 AUTH_LEAVE N1 numeric
4323 SIG_REQUIRED N1 numeric
4324 NBEF_DEL_DT N10 numeric
4325 NAFT_DEL_DT N10 numeric
4326 REL_DATE N6 date
4330 MAX_TEMP_F N6+X..1 text
4331 MAX_TEMP_C N6+X..1 text
4332 MIN_TEMP_F N6+X..1 text
4333 MIN_TEMP_C N6+X..1 text
7001 NSN N13 numeric
7002 MEAT_CUT X..30 text
7003 EXPIRY_TIME N10 numeric
7004 ACTIVE_POTENCY N..4 numeric
7005 CATCH_AREA X..12 text
7006 FIRST_FREEZE_DATE N6 date
7007 HARVEST_DATE N6..12 date_range
7008 AQUATIC_SPECIES X..3 text
7009 FISHING_GEAR_TYPE X..10 text
7010 PROD_METHOD X..2 text
7011 TEST_BY_DATE N6+N..4 text
7020 REFURB_LOT X..20 text
7021 FUNC_STAT X..20 text
7022 REV_STAT X..20 text
7023 GIAI_ASSEMBLY X..30 text
7030 PROCESSOR_0 N3+X..27 text
7031 PROCESSOR_1 N3+X..27 text
7032 PROCESSOR_2 N3+X..27 text
7033 PROCESSOR_3 N3+X..27 text
7034 PROCESSOR_4 N3+X..27 text
7035 PROCESSOR_5 N3+X..27 text
7036 PROCESSOR_6 N3+X..27 text
7037 PROCESSOR_7 N3+X..27 text
7038 PROCESSOR_8 N3+X..27 text
7039 PROCESSOR_9 N3+X..27 text
7040 UIC_EXT N1+X3 text
710 NHRN_PZN X..20 text
711 NHRN_CIP X..20 text
712 NHRN_CN X..20 text
713 NHRN_DRN X..20 text
714 NHRN_AIM X..20 text
715 NHRN_NDC X..20 text
716 NHRN_AIC X..20 text
7230 CERT_0 X2+X..28 text
7231 CERT_1 X2+X..28 text
7232 CERT_2 X2+X..28 text
7233 CERT_3 X2+X..28 text
7234 CERT_4 X2+X..28 text
7235 CERT_5 X2+X..28 text
7236 CERT_6 X2+X..28 text
7237 CERT_7 X2+X..28 text
7238 CERT_8 X2+X..28 text
7239 CERT_9 X2+X..28 text
7240 PROTOCOL X..20 text
7241 AIDC_MEDIA_TYPE N2 numeric
7242 VCN X..25 text
7250 DOB N8 numeric
7251 DOB_TIME N12 numeric
7252 BIO_SEX N1 numeric
7253 FAMILY_NAME X..40 text
7254 GIVEN_NAME X..40 text
7255 SUFFIX X..10 text
7256 FULL_NAME X..90 text
7257 PERSON_ADDR X..70 text
7258 BIRTH_SEQUENCE N1+X1+N1 text
7259 BABY X..60 text
8001 DIMENSIONS N14 numeric
8002 CMT_NO X..20 text
8003 GRAI N14+X..16 text
8004 GIAI X..30 text
8005 PRICE_PER_UNIT N6 numeric
8006 ITIP N14+N2+N2 numeric
8007 IBAN X..34 text
8008 PROD_TIME N8+N..4 numeric
8009 OPTSEN X..50 text
8010 CPID X..30 text
8011 CPID_SERIAL N..12 numeric
8012 VERSION X..20 text
8013 GMN X..25 text
8014 MUDI X..25 text
8017 GSRN_PROVIDER N18 numeric
8018 GSRN_RECIPIENT N18 numeric
8019 SRIN N..10 numeric
8020 REF_NO X..25 text
8026 ITIP_CONTENT N14+N2+N2 numeric
8030 DIGSIG X..90 text
8110 COUPON_NA X..70 text
8111 POINTS N4 numeric
8112 COUPON_PAPERLESS X..70 text
8200 PRODUCT_URL X..70 text
90 INTERNAL X..30 text
91 INTERNAL_91 X..90 text
92 INTERNAL_92 X..90 text
93 INTERNAL_93 X..90 text
94 INTERNAL_94 X..90 text
95 INTERNAL_95 X..90 text
96 INTERNAL_96 X..90 text
97 INTERNAL_97 X..90 text
98 INTERNAL_98 X..90 text
99 INTERNAL_99 X..90 text
"""

_PART = re.compile(r"^([NX])(\d*)(?:\.\.(\d+))?$")


@dataclass(frozen=True, slots=True)
class AiDef:
    """Definition of one application identifier."""

    ai: str
    title: str
    fmt: str
    kind: str
    min_len: int
    max_len: int
    numeric: bool

    @property
    def fixed(self) -> bool:
        """True when the data field always has the same length."""
        return self.min_len == self.max_len


def _lengths(fmt: str) -> tuple[int, int, bool]:
    lo = hi = 0
    numeric = True
    for part in fmt.split("+"):
        m = _PART.match(part)
        if m is None:
            raise ValueError(f"bad AI format {fmt!r}")
        letter, fixed, var = m.groups()
        numeric = numeric and letter == "N"
        if var is not None:  # "N..15" (fixed empty) or "N6..12" (fixed minimum)
            lo += int(fixed) if fixed else 1
            hi += int(var)
        else:
            lo += int(fixed)
            hi += int(fixed)
    return lo, hi, numeric


def _build() -> dict[str, AiDef]:
    table: dict[str, AiDef] = {}
    for line in _TABLE.strip().splitlines():
        ai, title, fmt, kind = line.split()
        lo, hi, numeric = _lengths(fmt)
        if ai.endswith("n"):
            for n in range(10):
                code = ai[:-1] + str(n)
                table[code] = AiDef(code, title, fmt, kind, lo, hi, numeric)
        else:
            table[ai] = AiDef(ai, title, fmt, kind, lo, hi, numeric)
    return table


AI_TABLE: dict[str, AiDef] = _build()


def lookup_ai(data: str) -> AiDef | None:
    """Return the AI definition whose number starts ``data`` (AIs form a prefix-free code)."""
    for n in (2, 3, 4):
        found = AI_TABLE.get(data[:n])
        if found is not None:
            return found
    return None
