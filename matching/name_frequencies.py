"""Shipped term-frequency tables for person names (no training needed).

Source: the 1990 US Census name files (public domain; the frequency columns of
``dist.all.last``, ``dist.male.first`` and ``dist.female.first``).  Given-name
frequencies are the mean of the male and female tables (a population share).
Only the names more common than the floors below are listed: every other value,
including typos, counts as having the floor frequency.  Nothing here comes from
FEBRL or any other benchmark.

How the engine uses them (see ``MatchModel.tf`` / ``MatchModel.tf_min``): an
exact agreement on a value with frequency f weighs log2(m / max(f, floor)) instead of
log2(m / u).  "smith" (1.0 %) therefore weighs about 2.3 bits less than an average
surname and a surname off the list 2 bits more; the floor caps that boost, because
a rare-looking value is as often a typo or a name that is common locally but not
in the US table.
"""

from __future__ import annotations

FIRST_NAME_FLOOR = 0.0025
"""Frequency assumed for a given name not listed (caps the boost at log2(u / floor))."""
LAST_NAME_FLOOR = 0.0005
"""Frequency assumed for a surname not listed."""

SOURCE = "US Census 1990 name files (public domain), names above the floor"

FIRST_NAMES: dict[str, float] = {
    "james": 0.01664, "john": 0.016415, "robert": 0.015755, "michael": 0.013205, "mary": 0.01319,
    "william": 0.01229, "david": 0.011845, "richard": 0.008535, "charles": 0.007645, "joseph": 0.007045,
    "thomas": 0.006915, "patricia": 0.005385, "christopher": 0.00519, "linda": 0.005175, "barbara": 0.0049,
    "daniel": 0.004895, "paul": 0.004755, "mark": 0.00471, "elizabeth": 0.004685, "donald": 0.004665,
    "george": 0.00466, "jennifer": 0.00466, "maria": 0.004165, "kenneth": 0.00414, "susan": 0.00397,
    "steven": 0.00391, "edward": 0.003905, "margaret": 0.00384, "brian": 0.003685, "dorothy": 0.003635,
    "ronald": 0.003635, "anthony": 0.00362, "lisa": 0.00352, "kevin": 0.003365, "nancy": 0.003345,
    "karen": 0.003335, "betty": 0.00333, "helen": 0.003315, "jason": 0.00331, "matthew": 0.003295,
    "gary": 0.00326, "timothy": 0.003205, "sandra": 0.003145, "jose": 0.00308, "larry": 0.002995,
    "jeffrey": 0.00296, "donna": 0.002915, "frank": 0.002915, "carol": 0.002855, "ruth": 0.00281,
    "scott": 0.00274, "eric": 0.00273, "stephen": 0.00271, "andrew": 0.002695, "sharon": 0.00261,
    "michelle": 0.002595, "laura": 0.00255, "sarah": 0.00254, "kimberly": 0.00252,
}

LAST_NAMES: dict[str, float] = {
    "smith": 0.01006, "johnson": 0.0081, "williams": 0.00699, "brown": 0.00621, "jones": 0.00621,
    "davis": 0.0048, "miller": 0.00424, "wilson": 0.00339, "moore": 0.00312, "anderson": 0.00311,
    "taylor": 0.00311, "thomas": 0.00311, "jackson": 0.0031, "white": 0.00279, "harris": 0.00275,
    "martin": 0.00273, "thompson": 0.00269, "garcia": 0.00254, "martinez": 0.00234, "robinson": 0.00233,
    "clark": 0.00231, "rodriguez": 0.00229, "lewis": 0.00226, "lee": 0.0022, "walker": 0.00219, "hall": 0.002,
    "allen": 0.00199, "young": 0.00193, "hernandez": 0.00192, "king": 0.0019, "wright": 0.00189,
    "hill": 0.00187, "lopez": 0.00187, "scott": 0.00185, "green": 0.00183, "adams": 0.00174, "baker": 0.00171,
    "gonzalez": 0.00166, "carter": 0.00162, "nelson": 0.00162, "mitchell": 0.0016, "perez": 0.00155,
    "roberts": 0.00153, "turner": 0.00152, "campbell": 0.00149, "phillips": 0.00149, "parker": 0.00146,
    "evans": 0.00141, "edwards": 0.00137, "collins": 0.00134, "stewart": 0.00133, "sanchez": 0.0013,
    "morris": 0.00125, "rogers": 0.00123, "reed": 0.00122, "cook": 0.0012, "morgan": 0.00118, "bell": 0.00117,
    "murphy": 0.00117, "bailey": 0.00115, "cooper": 0.00113, "rivera": 0.00113, "richardson": 0.00112,
    "cox": 0.0011, "howard": 0.0011, "torres": 0.00108, "ward": 0.00108, "peterson": 0.00107, "gray": 0.00106,
    "james": 0.00105, "ramirez": 0.00105, "brooks": 0.00103, "watson": 0.00103, "kelly": 0.00102,
    "sanders": 0.001, "bennett": 0.00099, "price": 0.00099, "wood": 0.00098, "barnes": 0.00097,
    "ross": 0.00096, "coleman": 0.00095, "henderson": 0.00095, "jenkins": 0.00095, "perry": 0.00094,
    "powell": 0.00093, "flores": 0.00092, "hughes": 0.00092, "long": 0.00092, "patterson": 0.00092,
    "washington": 0.00092, "butler": 0.00091, "foster": 0.00091, "simmons": 0.00091, "bryant": 0.00087,
    "gonzales": 0.00087, "alexander": 0.00085, "russell": 0.00085, "diaz": 0.00084, "griffin": 0.00084,
    "hayes": 0.00083, "myers": 0.00083, "ford": 0.00082, "graham": 0.00082, "hamilton": 0.00082,
    "sullivan": 0.00081, "wallace": 0.00081, "cole": 0.0008, "west": 0.0008, "woods": 0.0008,
    "jordan": 0.00078, "owens": 0.00078, "reynolds": 0.00078, "ellis": 0.00077, "fisher": 0.00077,
    "harrison": 0.00076, "cruz": 0.00075, "gibson": 0.00075, "gomez": 0.00075, "marshall": 0.00075,
    "mcdonald": 0.00075, "ortiz": 0.00075, "freeman": 0.00074, "murray": 0.00074, "wells": 0.00073,
    "webb": 0.00072, "simpson": 0.0007, "stevens": 0.0007, "tucker": 0.0007, "hicks": 0.00069,
    "hunter": 0.00069, "porter": 0.00069, "boyd": 0.00068, "crawford": 0.00068, "henry": 0.00068,
    "mason": 0.00068, "kennedy": 0.00067, "morales": 0.00067, "warren": 0.00067, "dixon": 0.00066,
    "ramos": 0.00066, "reyes": 0.00066, "burns": 0.00065, "gordon": 0.00065, "holmes": 0.00065,
    "shaw": 0.00065, "rice": 0.00064, "robertson": 0.00064, "black": 0.00063, "hunt": 0.00063,
    "daniels": 0.00062, "palmer": 0.00062, "mills": 0.00061, "grant": 0.0006, "knight": 0.0006,
    "nichols": 0.0006, "ferguson": 0.00059, "hawkins": 0.00059, "rose": 0.00059, "stone": 0.00059,
    "dunn": 0.00058, "hudson": 0.00058, "perkins": 0.00058, "gardner": 0.00057, "payne": 0.00057,
    "spencer": 0.00057, "stephens": 0.00057, "arnold": 0.00056, "berry": 0.00056, "matthews": 0.00056,
    "pierce": 0.00056, "carroll": 0.00055, "duncan": 0.00055, "olson": 0.00055, "ray": 0.00055,
    "snyder": 0.00055, "wagner": 0.00055, "watkins": 0.00055, "willis": 0.00055, "andrews": 0.00054,
    "bradley": 0.00054, "cunningham": 0.00054, "harper": 0.00054, "hart": 0.00054, "lane": 0.00054,
    "ruiz": 0.00054, "armstrong": 0.00053, "carpenter": 0.00053, "fox": 0.00053, "greene": 0.00053,
    "riley": 0.00053, "weaver": 0.00053, "austin": 0.00052, "chavez": 0.00052, "elliott": 0.00052,
    "kelley": 0.00052, "lawrence": 0.00052, "peters": 0.00052, "sims": 0.00052, "carr": 0.00051,
    "castillo": 0.00051, "fields": 0.00051, "franklin": 0.00051, "gutierrez": 0.00051, "lawson": 0.00051,
    "ryan": 0.00051, "schmidt": 0.00051, "vasquez": 0.00051, "wheeler": 0.00051,
}
