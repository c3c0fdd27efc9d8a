"""The timezone dataset: US, Canadian and Australian regions, their postal codes, a few cities,
and the countries that keep one time.

Sources and choices (written by hand, 2026; tzdata names as of 2025):
- A region's zone is the one most of its people keep. Where a state is split, the postal code
  refines it when its prefix lies wholly in the other zone (``ZIP3_ZONES``, ``AU_POSTCODE_ZONES``);
  otherwise the region's main zone stands.
- US ZIP codes: the first three digits (the USPS sectional centre) name the state.
- Canadian postal codes: the first letter names the province (X is split by the first three
  characters between the Northwest Territories and Nunavut).
- Australian postcodes: the documented number ranges of each state and territory.
- ``SINGLE_ZONE_COUNTRIES``: the countries of tzdata's zone.tab whose zones all keep the same UTC
  offsets through 2026-2027, with the first zone zone.tab lists for them. Countries split between
  offsets (US, CA, AU, BR, MX, RU, ES, PT, NZ, CN, ...) are left out: a country alone does not
  place a contact there.
- ``CITIES``: large cities, for contacts that give a city but no state or postal code. A city
  whose name is shared by places in different zones is left out.
"""

from __future__ import annotations

from typing import Final

US_STATES: Final[dict[str, str]] = {
    "AL": "America/Chicago",
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "AR": "America/Chicago",
    "CA": "America/Los_Angeles",
    "CO": "America/Denver",
    "CT": "America/New_York",
    "DE": "America/New_York",
    "DC": "America/New_York",
    "FL": "America/New_York",
    "GA": "America/New_York",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago",
    "KS": "America/Chicago",
    "KY": "America/New_York",
    "LA": "America/Chicago",
    "ME": "America/New_York",
    "MD": "America/New_York",
    "MA": "America/New_York",
    "MI": "America/Detroit",
    "MN": "America/Chicago",
    "MS": "America/Chicago",
    "MO": "America/Chicago",
    "MT": "America/Denver",
    "NE": "America/Chicago",
    "NV": "America/Los_Angeles",
    "NH": "America/New_York",
    "NJ": "America/New_York",
    "NM": "America/Denver",
    "NY": "America/New_York",
    "NC": "America/New_York",
    "ND": "America/Chicago",
    "OH": "America/New_York",
    "OK": "America/Chicago",
    "OR": "America/Los_Angeles",
    "PA": "America/New_York",
    "RI": "America/New_York",
    "SC": "America/New_York",
    "SD": "America/Chicago",
    "TN": "America/Chicago",
    "TX": "America/Chicago",
    "UT": "America/Denver",
    "VT": "America/New_York",
    "VA": "America/New_York",
    "WA": "America/Los_Angeles",
    "WV": "America/New_York",
    "WI": "America/Chicago",
    "WY": "America/Denver",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "AS": "Pacific/Pago_Pago",
    "MP": "Pacific/Saipan",
}

US_STATE_NAMES: Final[dict[str, str]] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "washington dc": "DC", "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID",
    "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY",
    "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO",
    "montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH",
    "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "puerto rico": "PR", "us virgin islands": "VI", "guam": "GU", "american samoa": "AS",
    "northern mariana islands": "MP",
}  # fmt: skip

# The state of each ZIP code prefix (first three digits), as inclusive ranges.
ZIP3_STATES: Final[tuple[tuple[int, int, str], ...]] = (
    (5, 5, "NY"), (6, 7, "PR"), (8, 8, "VI"), (9, 9, "PR"), (10, 27, "MA"), (28, 29, "RI"),
    (30, 38, "NH"), (39, 49, "ME"), (50, 54, "VT"), (55, 55, "MA"), (56, 59, "VT"),
    (60, 69, "CT"), (70, 89, "NJ"), (100, 149, "NY"), (150, 196, "PA"), (197, 199, "DE"),
    (200, 200, "DC"), (201, 201, "VA"), (202, 205, "DC"), (206, 219, "MD"), (220, 246, "VA"),
    (247, 268, "WV"), (270, 289, "NC"), (290, 299, "SC"), (300, 319, "GA"), (320, 339, "FL"),
    (341, 349, "FL"), (350, 369, "AL"), (370, 385, "TN"), (386, 397, "MS"), (398, 399, "GA"),
    (400, 427, "KY"), (430, 459, "OH"), (460, 479, "IN"), (480, 499, "MI"), (500, 528, "IA"),
    (530, 549, "WI"), (550, 567, "MN"), (569, 569, "DC"), (570, 577, "SD"), (580, 588, "ND"),
    (590, 599, "MT"), (600, 629, "IL"), (630, 658, "MO"), (660, 679, "KS"), (680, 693, "NE"),
    (700, 714, "LA"), (716, 729, "AR"), (730, 732, "OK"), (733, 733, "TX"), (734, 749, "OK"),
    (750, 799, "TX"), (800, 816, "CO"), (820, 831, "WY"), (832, 838, "ID"), (840, 847, "UT"),
    (850, 865, "AZ"), (870, 884, "NM"), (885, 885, "TX"), (889, 898, "NV"), (900, 961, "CA"),
    (967, 968, "HI"), (969, 969, "GU"), (970, 979, "OR"), (980, 994, "WA"), (995, 999, "AK"),
)  # fmt: skip

# ZIP prefixes of split states that lie in a zone other than their state's main one.
ZIP3_ZONES: Final[dict[int, str]] = {
    324: "America/Chicago",  # Florida panhandle: Panama City
    325: "America/Chicago",  # Florida panhandle: Pensacola
    373: "America/New_York",  # East Tennessee: Chattanooga
    374: "America/New_York",
    376: "America/New_York",  # East Tennessee: Johnson City
    377: "America/New_York",  # East Tennessee: Knoxville
    378: "America/New_York",
    379: "America/New_York",
    420: "America/Chicago",  # Western Kentucky: Paducah
    421: "America/Chicago",  # Bowling Green
    422: "America/Chicago",
    423: "America/Chicago",  # Owensboro
    424: "America/Chicago",  # Henderson
    463: "America/Chicago",  # Northwest Indiana: Gary
    464: "America/Chicago",
    476: "America/Chicago",  # Southwest Indiana: Evansville
    477: "America/Chicago",
    577: "America/Denver",  # Western South Dakota: Rapid City
    586: "America/Denver",  # Southwest North Dakota: Dickinson
    693: "America/Denver",  # Nebraska panhandle: Scottsbluff
    798: "America/Denver",  # West Texas: El Paso
    799: "America/Denver",
    885: "America/Denver",
    835: "America/Los_Angeles",  # North Idaho: Lewiston
    838: "America/Los_Angeles",  # North Idaho: Coeur d'Alene
    979: "America/Boise",  # Eastern Oregon: Ontario
}

CA_PROVINCES: Final[dict[str, str]] = {
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "MB": "America/Winnipeg",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "ON": "America/Toronto",
    "PE": "America/Halifax",
    "QC": "America/Toronto",
    "SK": "America/Regina",
    "YT": "America/Whitehorse",
}

CA_PROVINCE_NAMES: Final[dict[str, str]] = {
    "alberta": "AB", "british columbia": "BC", "manitoba": "MB", "new brunswick": "NB",
    "newfoundland and labrador": "NL", "newfoundland": "NL", "nova scotia": "NS",
    "northwest territories": "NT", "nunavut": "NU", "ontario": "ON",
    "prince edward island": "PE", "quebec": "QC", "québec": "QC", "saskatchewan": "SK",
    "yukon": "YT",
}  # fmt: skip

# The province of a postal code's first letter; X by its first three characters.
CA_POSTAL_PROVINCES: Final[dict[str, str]] = {
    "A": "NL", "B": "NS", "C": "PE", "E": "NB", "G": "QC", "H": "QC", "J": "QC", "K": "ON",
    "L": "ON", "M": "ON", "N": "ON", "P": "ON", "R": "MB", "S": "SK", "T": "AB", "V": "BC",
    "Y": "YT", "X0A": "NU", "X0B": "NU", "X0C": "NU", "X0E": "NT", "X0G": "NT", "X1A": "NT",
}  # fmt: skip

AU_STATES: Final[dict[str, str]] = {
    "ACT": "Australia/Sydney",
    "NSW": "Australia/Sydney",
    "NT": "Australia/Darwin",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "TAS": "Australia/Hobart",
    "VIC": "Australia/Melbourne",
    "WA": "Australia/Perth",
}

AU_STATE_NAMES: Final[dict[str, str]] = {
    "australian capital territory": "ACT", "new south wales": "NSW",
    "northern territory": "NT", "queensland": "QLD", "south australia": "SA",
    "tasmania": "TAS", "victoria": "VIC", "western australia": "WA",
}  # fmt: skip

# The state of each postcode, as inclusive ranges (PO-box ranges included).
AU_POSTCODE_STATES: Final[tuple[tuple[int, int, str], ...]] = (
    (200, 299, "ACT"), (800, 999, "NT"), (1000, 2599, "NSW"), (2600, 2618, "ACT"),
    (2619, 2899, "NSW"), (2900, 2920, "ACT"), (2921, 2999, "NSW"), (3000, 3999, "VIC"),
    (4000, 4999, "QLD"), (5000, 5999, "SA"), (6000, 6999, "WA"), (7000, 7999, "TAS"),
    (8000, 8999, "VIC"), (9000, 9999, "QLD"),
)  # fmt: skip

AU_POSTCODE_ZONES: Final[dict[int, str]] = {
    2880: "Australia/Broken_Hill",  # NSW, but on South Australia's time
    2898: "Australia/Lord_Howe",
}

# (country, lower-case city) → zone.
CITIES: Final[dict[tuple[str, str], str]] = {
    ("US", "new york"): "America/New_York",
    ("US", "new york city"): "America/New_York",
    ("US", "los angeles"): "America/Los_Angeles",
    ("US", "chicago"): "America/Chicago",
    ("US", "houston"): "America/Chicago",
    ("US", "phoenix"): "America/Phoenix",
    ("US", "philadelphia"): "America/New_York",
    ("US", "san antonio"): "America/Chicago",
    ("US", "san diego"): "America/Los_Angeles",
    ("US", "dallas"): "America/Chicago",
    ("US", "austin"): "America/Chicago",
    ("US", "san francisco"): "America/Los_Angeles",
    ("US", "san jose"): "America/Los_Angeles",
    ("US", "seattle"): "America/Los_Angeles",
    ("US", "denver"): "America/Denver",
    ("US", "boston"): "America/New_York",
    ("US", "miami"): "America/New_York",
    ("US", "atlanta"): "America/New_York",
    ("US", "detroit"): "America/Detroit",
    ("US", "las vegas"): "America/Los_Angeles",
    ("US", "minneapolis"): "America/Chicago",
    ("US", "nashville"): "America/Chicago",
    ("US", "indianapolis"): "America/Indiana/Indianapolis",
    ("US", "salt lake city"): "America/Denver",
    ("US", "el paso"): "America/Denver",
    ("US", "pensacola"): "America/Chicago",
    ("US", "honolulu"): "Pacific/Honolulu",
    ("US", "anchorage"): "America/Anchorage",
    ("CA", "toronto"): "America/Toronto",
    ("CA", "montreal"): "America/Toronto",
    ("CA", "montréal"): "America/Toronto",
    ("CA", "ottawa"): "America/Toronto",
    ("CA", "quebec city"): "America/Toronto",
    ("CA", "vancouver"): "America/Vancouver",
    ("CA", "calgary"): "America/Edmonton",
    ("CA", "edmonton"): "America/Edmonton",
    ("CA", "winnipeg"): "America/Winnipeg",
    ("CA", "regina"): "America/Regina",
    ("CA", "saskatoon"): "America/Regina",
    ("CA", "halifax"): "America/Halifax",
    ("CA", "st. john's"): "America/St_Johns",
    ("CA", "st john's"): "America/St_Johns",
    ("AU", "sydney"): "Australia/Sydney",
    ("AU", "canberra"): "Australia/Sydney",
    ("AU", "melbourne"): "Australia/Melbourne",
    ("AU", "brisbane"): "Australia/Brisbane",
    ("AU", "gold coast"): "Australia/Brisbane",
    ("AU", "perth"): "Australia/Perth",
    ("AU", "adelaide"): "Australia/Adelaide",
    ("AU", "hobart"): "Australia/Hobart",
    ("AU", "darwin"): "Australia/Darwin",
    ("AU", "broken hill"): "Australia/Broken_Hill",
    ("BR", "sao paulo"): "America/Sao_Paulo",
    ("BR", "são paulo"): "America/Sao_Paulo",
    ("BR", "rio de janeiro"): "America/Sao_Paulo",
    ("BR", "manaus"): "America/Manaus",
    ("MX", "mexico city"): "America/Mexico_City",
    ("MX", "ciudad de mexico"): "America/Mexico_City",
    ("MX", "ciudad de méxico"): "America/Mexico_City",
    ("MX", "guadalajara"): "America/Mexico_City",
    ("MX", "monterrey"): "America/Monterrey",
    ("MX", "tijuana"): "America/Tijuana",
    ("MX", "cancun"): "America/Cancun",
    ("MX", "cancún"): "America/Cancun",
    ("ES", "madrid"): "Europe/Madrid",
    ("ES", "barcelona"): "Europe/Madrid",
    ("PT", "lisbon"): "Europe/Lisbon",
    ("PT", "lisboa"): "Europe/Lisbon",
    ("NZ", "auckland"): "Pacific/Auckland",
    ("NZ", "wellington"): "Pacific/Auckland",
    ("CN", "beijing"): "Asia/Shanghai",
    ("CN", "shanghai"): "Asia/Shanghai",
    ("RU", "moscow"): "Europe/Moscow",
    ("RU", "saint petersburg"): "Europe/Moscow",
    ("ID", "jakarta"): "Asia/Jakarta",
}

# Country names and codes people write instead of ISO 3166 alpha-2 codes.
COUNTRY_ALIASES: Final[dict[str, str]] = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states": "US",
    "united states of america": "US", "america": "US", "canada": "CA", "can": "CA",
    "australia": "AU", "aus": "AU", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "ireland": "IE", "new zealand": "NZ",
    "india": "IN", "germany": "DE", "deutschland": "DE", "france": "FR", "spain": "ES",
    "españa": "ES", "italy": "IT", "netherlands": "NL", "mexico": "MX", "méxico": "MX",
    "brazil": "BR", "brasil": "BR", "south africa": "ZA", "philippines": "PH",
    "singapore": "SG", "united arab emirates": "AE", "uae": "AE", "israel": "IL",
}  # fmt: skip

# Old names of zones that phone data still uses, and their current names.
ZONE_RENAMES: Final[dict[str, str]] = {
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Europe/Kiev": "Europe/Kyiv",
    "America/Godthab": "America/Nuuk",
    "Pacific/Truk": "Pacific/Chuuk",
    "Atlantic/Faeroe": "Atlantic/Faroe",
}

_SINGLE_ZONE_TABLE = """
AD Europe/Andorra AE Asia/Dubai AF Asia/Kabul AG America/Antigua AI America/Anguilla
AL Europe/Tirane AM Asia/Yerevan AO Africa/Luanda AR America/Argentina/Buenos_Aires
AS Pacific/Pago_Pago AT Europe/Vienna AW America/Aruba AX Europe/Mariehamn AZ Asia/Baku
BA Europe/Sarajevo BB America/Barbados BD Asia/Dhaka BE Europe/Brussels
BF Africa/Ouagadougou BG Europe/Sofia BH Asia/Bahrain BI Africa/Bujumbura
BJ Africa/Porto-Novo BL America/St_Barthelemy BM Atlantic/Bermuda BN Asia/Brunei
BO America/La_Paz BQ America/Kralendijk BS America/Nassau BT Asia/Thimphu
BW Africa/Gaborone BY Europe/Minsk BZ America/Belize CC Indian/Cocos CF Africa/Bangui
CG Africa/Brazzaville CH Europe/Zurich CI Africa/Abidjan CK Pacific/Rarotonga
CM Africa/Douala CO America/Bogota CR America/Costa_Rica CU America/Havana
CV Atlantic/Cape_Verde CW America/Curacao CX Indian/Christmas CY Asia/Nicosia
CZ Europe/Prague DE Europe/Berlin DJ Africa/Djibouti DK Europe/Copenhagen
DM America/Dominica DO America/Santo_Domingo DZ Africa/Algiers EE Europe/Tallinn
EG Africa/Cairo EH Africa/El_Aaiun ER Africa/Asmara ET Africa/Addis_Ababa
FI Europe/Helsinki FJ Pacific/Fiji FK Atlantic/Stanley FO Atlantic/Faroe FR Europe/Paris
GA Africa/Libreville GB Europe/London GD America/Grenada GE Asia/Tbilisi
GF America/Cayenne GG Europe/Guernsey GH Africa/Accra GI Europe/Gibraltar
GM Africa/Banjul GN Africa/Conakry GP America/Guadeloupe GQ Africa/Malabo
GR Europe/Athens GS Atlantic/South_Georgia GT America/Guatemala GU Pacific/Guam
GW Africa/Bissau GY America/Guyana HK Asia/Hong_Kong HN America/Tegucigalpa
HR Europe/Zagreb HT America/Port-au-Prince HU Europe/Budapest IE Europe/Dublin
IL Asia/Jerusalem IM Europe/Isle_of_Man IN Asia/Kolkata IO Indian/Chagos IQ Asia/Baghdad
IR Asia/Tehran IS Atlantic/Reykjavik IT Europe/Rome JE Europe/Jersey JM America/Jamaica
JO Asia/Amman JP Asia/Tokyo KE Africa/Nairobi KG Asia/Bishkek KH Asia/Phnom_Penh
KM Indian/Comoro KN America/St_Kitts KP Asia/Pyongyang KR Asia/Seoul KW Asia/Kuwait
KY America/Cayman KZ Asia/Almaty LA Asia/Vientiane LB Asia/Beirut LC America/St_Lucia
LI Europe/Vaduz LK Asia/Colombo LR Africa/Monrovia LS Africa/Maseru LT Europe/Vilnius
LU Europe/Luxembourg LV Europe/Riga LY Africa/Tripoli MA Africa/Casablanca
MC Europe/Monaco MD Europe/Chisinau ME Europe/Podgorica MF America/Marigot
MG Indian/Antananarivo MH Pacific/Majuro MK Europe/Skopje ML Africa/Bamako MM Asia/Yangon
MO Asia/Macau MP Pacific/Saipan MQ America/Martinique MR Africa/Nouakchott
MS America/Montserrat MT Europe/Malta MU Indian/Mauritius MV Indian/Maldives
MW Africa/Blantyre MY Asia/Kuala_Lumpur MZ Africa/Maputo NA Africa/Windhoek
NC Pacific/Noumea NE Africa/Niamey NF Pacific/Norfolk NG Africa/Lagos NI America/Managua
NL Europe/Amsterdam NO Europe/Oslo NP Asia/Kathmandu NR Pacific/Nauru NU Pacific/Niue
OM Asia/Muscat PA America/Panama PE America/Lima PH Asia/Manila PK Asia/Karachi
PL Europe/Warsaw PM America/Miquelon PN Pacific/Pitcairn PR America/Puerto_Rico
PS Asia/Gaza PW Pacific/Palau PY America/Asuncion QA Asia/Qatar RE Indian/Reunion
RO Europe/Bucharest RS Europe/Belgrade RW Africa/Kigali SA Asia/Riyadh
SB Pacific/Guadalcanal SC Indian/Mahe SD Africa/Khartoum SE Europe/Stockholm
SG Asia/Singapore SH Atlantic/St_Helena SI Europe/Ljubljana SJ Arctic/Longyearbyen
SK Europe/Bratislava SL Africa/Freetown SM Europe/San_Marino SN Africa/Dakar
SO Africa/Mogadishu SR America/Paramaribo SS Africa/Juba ST Africa/Sao_Tome
SV America/El_Salvador SX America/Lower_Princes SY Asia/Damascus SZ Africa/Mbabane
TC America/Grand_Turk TD Africa/Ndjamena TF Indian/Kerguelen TG Africa/Lome
TH Asia/Bangkok TJ Asia/Dushanbe TK Pacific/Fakaofo TL Asia/Dili TM Asia/Ashgabat
TN Africa/Tunis TO Pacific/Tongatapu TR Europe/Istanbul TT America/Port_of_Spain
TV Pacific/Funafuti TW Asia/Taipei TZ Africa/Dar_es_Salaam UG Africa/Kampala
UY America/Montevideo UZ Asia/Samarkand VA Europe/Vatican VC America/St_Vincent
VE America/Caracas VG America/Tortola VI America/St_Thomas VN Asia/Ho_Chi_Minh
VU Pacific/Efate WF Pacific/Wallis WS Pacific/Apia YE Asia/Aden YT Indian/Mayotte
ZA Africa/Johannesburg ZM Africa/Lusaka ZW Africa/Harare
"""

SINGLE_ZONE_COUNTRIES: Final[dict[str, str]] = dict(
    zip(*[iter(_SINGLE_ZONE_TABLE.split())] * 2, strict=True)
)
