//! Place words: countries, regions and large cities that name many firms ("Shanghai …
//! Chemical", "Hamburg … GmbH"), so that one alone never stands for a firm.

use std::sync::LazyLock;

use super::FastSet;

#[rustfmt::skip]
const PLACE_WORDS: &[&str] = &[
    // countries and regions, as written in firms' names
    "china", "zhongguo", "india", "bharat", "germany", "deutschland", "netherlands", "holland",
    "france", "italia", "italy", "espana", "spain", "mexico", "brasil", "brazil", "russia",
    "rossiya", "ukraine", "ukraina", "turkey", "turkiye", "iran", "america", "american", "usa",
    "british", "britain", "england", "london", "europe", "european", "euro", "asia", "asian",
    "pacific", "atlantic", "africa", "african", "canada", "canadian", "vietnam", "thai",
    "thailand", "korea", "korean", "japan", "nippon", "taiwan", "hongkong", "hong", "kong",
    "singapore", "malaysia", "indonesia", "polska", "poland", "czech", "hellas", "greece",
    "bulgaria", "hrvatska", "croatia", "orient", "oriental", "east", "west", "north", "south",
    "eastern", "western", "northern", "southern", "central", "sino", "nordic", "baltic",
    // provinces and large cities
    "shanghai", "beijing", "peking", "guangzhou", "guangdong", "shenzhen", "tianjin", "wuhan",
    "hubei", "hebei", "henan", "shandong", "jiangsu", "zhejiang", "fujian", "sichuan",
    "chengdu", "chongqing", "hangzhou", "nanjing", "suzhou", "xiamen", "qingdao", "dalian",
    "shenyang", "harbin", "changsha", "hunan", "anhui", "jiangxi", "shaanxi", "shanxi",
    "yunnan", "guangxi", "taipei", "kaohsiung", "mumbai", "bombay", "delhi", "hyderabad",
    "chennai", "kolkata", "bangalore", "bengaluru", "gujarat", "ahmedabad", "pune", "berlin",
    "hamburg", "munchen", "munich", "frankfurt", "koln", "rotterdam", "amsterdam", "paris",
    "lyon", "marseille", "milano", "milan", "roma", "rome", "torino", "napoli", "madrid",
    "barcelona", "valencia", "sevilla", "guadalajara", "monterrey", "sao", "paulo", "rio",
    "moskva", "moscow", "moskovskiy", "sankt", "peterburg", "petersburg", "kyiv", "kiev",
    "kharkiv", "odesa", "odessa", "istanbul", "ankara", "izmir", "tehran", "new", "york",
    "angeles", "chicago", "houston", "miami", "toronto", "vancouver", "montreal", "seoul",
    "busan", "tokyo", "osaka", "bangkok", "hanoi", "saigon", "sofia", "zagreb", "warszawa",
    "warsaw", "krakow", "praha", "prague", "athina", "athens", "dubai", "lagos", "cairo",
];

static PLACE_WORD_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| PLACE_WORDS.iter().copied().collect());

/// Whether a normalised token names a place.
pub fn is_place_word(token: &str) -> bool {
    PLACE_WORD_SET.contains(token)
}
