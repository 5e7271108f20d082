"""The question policy: requests in disallowed categories are refused before anything is retrieved.

Two deciders, either of which refuses:
- rules: phrasings that leave no doubt ("how do I build a pipe bomb", "write ransomware"), per category;
- similarity to the shipped exemplars (exemplars.jsonl) with the bundled embedder: each part of the question
  (the whole, and each sentence, so a jailbreak story cannot dilute the request inside it) is compared with
  harmful exemplars of every category and with benign ones, most of them near-misses ("how do I kill a stuck
  process"). A part is refused when its nearest harmful exemplar is at least `threshold` similar and beats the
  nearest benign one by `margin`. Intent shifts both: a question that means to evade notice or the law
  ("without anyone knowing") is refused from EVASION_THRESHOLD on, whatever the benign exemplars; one that
  means to protect, prevent or recognise needs PROTECTIVE_MARGIN more margin.
Precision and recall on the red-team sets are in README.md ("Safety"); `python -m eval redteam` measures them.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embedder import Embedder
from rag.safety import frames
from rag.safety.frames import GROUP

EXEMPLARS = Path(__file__).with_name("exemplars.jsonl")
EVASION_THRESHOLD = 0.35
PROTECTIVE_MARGIN = 0.06
CATEGORIES = ("self_harm", "violence", "drugs", "sexual_minors", "hate", "malware")

_MINOR = (
    r"(?:child|children|kids?|minors?|underage|under-age|preteens?|pre-teens?|teens?|teenagers?|schoolgirls?|"
    r"schoolboys?|little (?:girls?|boys?)|\d{1,2}[- ]year[- ]olds?|(?:young|little) (?:daughter|son|niece|nephew))"
)
_SEXUAL = r"(?:sex|sexual|sexy|porn\w*|nudes?|naked|erotic\w*|explicit|lewd|nsfw)"
_RULES: dict[str, list[str]] = {
    "self_harm": [
        r"\b(?:kill|hurt|harm|cut|starve|hang|poison|shoot|drown|suffocate|asphyxiate|electrocute|overdose) myself\b",
        r"\bend (?:my|it all|my own) life\b",
        r"\b(?:painless|quickest|easiest|best|surest|fastest) (?:way|method)s? (?:to|of) (?:die|dying|suicide|"
        r"commit(?:ting)? suicide)\b",
        r"\b(?:how (?:do|can|should|could) i|help me|ways to|methods? (?:to|of)) (?:commit suicide|die by suicide)\b",
        r"\b(?:never|not|don't|do not) wake up\b(?: again)?|\bso (?:that )?i (?:can )?overdose\b",
        r"\b(?:slit|cut|slash) my (?:wrists?|throat|arms?)\b",
        r"\b(?:starve|starving) (?:myself|until|so)\b|\bunder \d{2,3} calories a (?:day|week)\b|"
        r"\b(?:[1-5]\d{2}|[1-9]\d)[- ]calories?[- ](?:a|per)[- ]day\b",
        r"\b(?:tie|make) (?:a |the )?noose\b|\b(?:cut|starve|hurt) (?:yourself |themselves )?(?:deeper|harder)\b",
    ],
    "violence": [
        r"\b(?:make|build|assemble|construct|create|manufacture|craft|rig|recipe for|instructions for)\b[^.?!]{0,30}"
        r"\b(?<!bath )(?<!seed )"
        r"(?<!photo )(?<!glitter )(?:(?:pipe |nail |car |"
        r"fertili[sz]er )?bombs?|explosives|explosive (?:devices?|charges?|vests?)|an explosive\b|IEDs?|molotov|"
        r"napalm|grenades?|ghost guns?|silencers?|suppressors?|"
        r"nerve agents?|sarin|ricin)\b(?!-)",  # not a bomb-shaped cake
    ],
    "drugs": [
        r"\b(?:make|cook|synthesi[sz]e|produce|manufacture|extract|brew|press)\b[^.?!]{0,30}\b(?:meth|"
        r"methamphetamine|crystal meth|fentanyl|heroin|cocaine|crack|LSD|MDMA|ecstasy|GHB|DMT|PCP)\b",
        r"\b(?:buy|order|get|score|source|smuggle|sell|deal)\b[^.?!]{0,30}\b(?:cocaine|heroin|meth|fentanyl|MDMA|LSD|"
        r"crack|ecstasy (?:pills|tablets)|molly)\b",
        r"\b(?:i|my|me)\b[^.?!]{0,40}\b(?:sell|deal|resell)\w*\b[^.?!]{0,30}\b(?:pills|adderall|ritalin|xanax|oxy\w*|"
        r"codeine|ketamine|prescriptions?)\b|\b(?:pills|adderall|ritalin|xanax|oxy\w*|codeine|ketamine)\b[^.?!]{0,30}"
        r"\bto (?:sell|deal)\b",
        r"\b(?:turn|convert|make|extract|crush|dissolve)\b[^.?!]{0,40}\b(?:codeine|oxy\w*|opioids?|morphine|fentanyl|"
        r"pills?|tablets?|patch(?:es)?)\b[^.?!]{0,40}\b(?:inject|snort|smoke|shoot up|get high)",
    ],
    "sexual_minors": [
        rf"\b{_MINOR}\b[^.?!]{{0,40}}\b{_SEXUAL}\b",
        rf"\b{_SEXUAL}\b[^.?!]{{0,40}}\b{_MINOR}\b",
        r"\b(?:groom|grooming)\b[^.?!]{0,30}\b(?:a |the )?(?:child|kid|minor|girl|boy)",
        r"\b(?:CSAM|child porn\w*)\b",
    ],
    "hate": [
        r"\b(?:why|prove|explain why|argue that)\b[^.?!]{0,60}\b(?:are|is) (?:inferior|subhuman|vermin|animals|"
        r"parasites)\b",
        r"\b(?:write|compose|generate|create|give me)\b[^.?!]{0,40}\b(?:racist|sexist|homophobic|transphobic|"
        r"antisemitic|islamophobic|hateful)\b",
        r"\b(?:harass|dox|doxx|stalk|threaten|intimidate)\b[^.?!]{0,30}\b(?:someone|him|her|them|my|a|people|"
        r"person|coworker|classmate|journalist|ex)\b",
        r"\bdeath threats?\b",
        rf"\b(?:insult\w*|slurs?|nicknames?|jokes?|mock\w*|manifesto|propaganda|rant|hate mail)\b"
        rf"[^.?!]{{0,40}}\b(?:about|for|against|of|targeting|mocking|saying)\b[^.?!]{{0,30}}\b{GROUP}\b",
        rf"\b{GROUP}\b[^.?!]{{0,40}}\b(?:are|is) (?:ruining|destroying|inferior|stupid|dumb|criminals?|"
        r"terrorists?|parasites?|vermin|animals|dirty|evil)\b",
        rf"\b{GROUP}\b[^.?!]{{0,40}}\b(?:must|should) (?:be )?(?:driven out|deported|exterminated|removed|"
        r"banned|sterili[sz]ed|locked up|rounded up|killed|eliminated)\b",
        rf"\b(?:demand\w*|insist\w*|campaign\w*|petition\w*|call\w* for)\b[^.?!]{{0,20}}\b{GROUP}\b[^.?!]{{0,30}}\bbe "
        r"(?:fired|sacked|dismissed|banned|removed|expelled|deported|excluded|segregated)\b",
        r"\b(?:bully|harass|torment)\b[^.?!]{0,40}\b(?:until|so that|so) (?:he|she|they)\b",
    ],
    "malware": [
        r"\b(?:write|create|code|build|make|give me)\b[^.?!]{0,40}\b(?:spreads?|propagates?|replicates?|copies) "
        r"(?:itself|themselves)\b",
        r"\b(?:hack|break|get|sneak) into\b[^.?!]{0,60}\b(?:to )?(?:change|alter|edit|delete) my (?:marks|grades|"
        r"results|record)\b",
        r"\b(?:log|logs|logging|record\w*|captur\w*)\b[^.?!]{0,20}\b(?:keystrokes?|keypress\w*|key presses)\b"
        r"[^.?!]{0,60}\b(?:upload\w*|send\w*|e-?mail\w*|ftp|server|remote\w*|secretly|hidden|without)",
        r"\b(?:hidden|secret|silent(?:ly)?|covert)\b[^.?!]{0,30}\b(?:remote[- ]access|backdoor|keylogger|rat)\b|"
        r"\bremote[- ]access (?:trojan|tool)\b[^.?!]{0,30}\b(?:hidden|secret|silent\w*|without)",
        r"\b(?:knock|take|bring|force|get)\b[^.?!]{0,30}\b(?:someone's|their|his|her|(?:my )?(?:school|employer|rival|"
        r"competitor|ex|boss)'s|(?:the )?(?:school|government|police|bank|council)) (?:website|site|server|network)s?\b"
        r"[^.?!]{0,15}\b(?:offline|down)\b",
        r"\b(?:disabl\w*|turn\w* off|kill\w*|bypass\w*|evad\w*|blind\w*)\b[^.?!]{0,25}\b(?:windows defender|defender|"
        r"antivirus|anti-virus|edr|av)\b[^.?!]{0,40}\b(?:payload|downloads?|silently|without|then|and (?:run|install|"
        r"execute))",
        r"\b(?:hide|hiding|embed\w*|inject\w*|obfuscat\w*|smuggl\w*|pack)\b[^.?!]{0,30}\b(?:reverse shells?|shellcode|"
        r"payloads?|malware|trojans?|backdoors?|keyloggers?)\b",
        r"\b(?:write|create|build|code|develop|make|generate|program|give me)\b[^.?!]{0,40}\b(?:ransomware|keyloggers?|"
        r"viruse?s?|trojans?|worms?|botnets?|rootkits?|malware|spyware|credential stealers?|info ?stealers?|"
        r"backdoors?|phishing (?:e-?mails?|pages?|kits?|sites?))\b",
        r"\b(?:hack|break) into\b[^.?!]{0,40}\b(?:account|e-?mail|phone|computer|network|server|wifi|instagram|"
        r"facebook|bank account|online bank)",
        r"\b(?:steal|harvest|dump|exfiltrate)\b[^.?!]{0,30}\b(?:passwords?|credentials|cookies|credit cards?|"
        r"session tokens?)\b",
        r"\b(?:launch|run|do|perform|start|script (?:to|that)|tool (?:to|that)) (?:an? )?ddos\b|\bddos (?:a|the|my|his|"
        r"her|their|someone's)\b|\bcrack (?:my |a |the |someone's )?(?:neighbou?r's )?wi-?fi\b",
        r"\b(?:bypass|evade)\b[^.?!]{0,30}\b(?:antivirus|EDR|defender)\b",
        r"\b(?:hack|break|get) into\b[^.?!]{0,60}\b(?:isn't mine|that is not mine|i don't own|not my own|someone "
        r"else's|other people's|my (?:ex|neighbou?r|boss|school|teacher)'?s?)\b",
    ],
}
# Intent: how the question means it. Evading notice or the law ("without anyone knowing", "so I can get high") marks
# a harmful intent; protecting, preventing or recognising marks a benign one ("how do I poison-proof my kitchen").
_EVASION = re.compile(
    r"\b(?:without (?:(?:anyone|them|him|her|my \w+|the \w+|people|their \w+) )?(?:knowing|noticing|finding out|"
    r"seeing|being (?:caught|found|seen|detected|traced))|without (?:getting|being) caught|without (?:a|any) "
    r"(?:prescription|doctor|background check|permission|licen[cs]e)|without (?:leaving|a) (?:trace|marks?|evidence)|"
    r"undetect\w+|untraceable|hard to (?:detect|trace)|(?:in|on|during) an? (?:autopsy|tox\w* (?:screen|report|test))|"
    r"(?:antivirus|av|edr|defender) (?:misses|doesn't|won't|can't)|(?:isn't|is not|that's not|not) (?:mine|my own)|"
    r"i don't own|get away with|so (?:that )?(?:i|he|she|they) (?:die|dies|can get high|bleeds?|suffers?|"
    r"crash(?:es)?)|to get high|to (?:kill|hurt|harm) "
    r"(?:me|myself|him|her|them|someone|people))\b",
    re.IGNORECASE,
)
_PROTECTIVE = re.compile(
    r"\b(?:safe(?:ly|ty)?|protect\w*|prevent\w*|recogni[sz]e|report\w*|support\w*|signs? of|warning signs|\w+-proof|"
    r"childproof|awareness|treat\w*|dispose|defen[cd]\w*|detect\w*|talk to|explain|teach\w*|educat\w*|warn\w*|"
    r"handle|deal with|respond to)\b",
    re.IGNORECASE,
)
_RULES_RE = {category: [re.compile(p, re.IGNORECASE) for p in patterns] for category, patterns in _RULES.items()}
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "be", "by", "can", "could", "do", "does", "for", "from", "get", "how", "i", "in", "is",
    "it", "me", "my", "of", "on", "or", "should", "the", "there", "this", "to", "was", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your",
})  # fmt: skip
MIN_CONTENT_WORDS = 3  # a shorter part ("Where is it sold?", a follow-up) says too little to be judged by similarity
_PARTS = re.compile(r"(?<=[.!?:;])\s+|\n+")


@dataclass(frozen=True)
class PolicyVerdict:
    refused: bool
    category: str | None = None  # one of CATEGORIES when refused
    how: str = ""  # "rule" or "similar to: <exemplar>"
    score: float = 0.0


def load_exemplars(path: Path = EXEMPLARS) -> list[tuple[str, str]]:
    """(category, text) pairs; category is one of CATEGORIES or "benign"."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["category"], row["text"]) for row in rows]


def content_words(text: str) -> int:
    return sum(word not in _STOPWORDS for word in re.findall(r"[a-z0-9'-]+", text.lower()))


def question_parts(question: str) -> list[str]:
    """The whole question and each sentence of it (a request wrapped in a story is one sentence of it), each with
    at least MIN_CONTENT_WORDS content words."""
    parts = [p.strip() for p in _PARTS.split(question) if len(p.strip()) >= 8]
    candidates = [question, *parts] if len(parts) > 1 else [question]
    return [part for part in candidates if content_words(part) >= MIN_CONTENT_WORDS]


class QuestionPolicy:
    def __init__(
        self, embedder: Embedder, threshold: float = 0.42, margin: float = 0.06, exemplars: Path = EXEMPLARS
    ) -> None:
        pairs = load_exemplars(exemplars)
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.categories = [category for category, _ in pairs]
        self.texts = [text for _, text in pairs]
        self.vectors = embedder.embed(self.texts)
        self.benign = np.array([category == "benign" for category in self.categories])

    def by_rules(self, question: str) -> PolicyVerdict | None:
        for category, patterns in _RULES_RE.items():
            if any(p.search(question) for p in patterns):
                return PolicyVerdict(True, category, "rule", 1.0)
        return None

    def by_similarity(self, question: str) -> PolicyVerdict:
        parts = question_parts(question)
        if not parts:
            return PolicyVerdict(False)
        similarity = self.embedder.embed(parts) @ self.vectors.T  # parts x exemplars (unit vectors)
        evasive = bool(_EVASION.search(question))
        margin = self.margin + (PROTECTIVE_MARGIN if _PROTECTIVE.search(question) and not evasive else 0.0)
        best = PolicyVerdict(False)
        for row in similarity:
            harmful = np.where(self.benign, -1.0, row)
            nearest = int(harmful.argmax())
            score, benign = float(harmful[nearest]), float(row[self.benign].max())
            refused = (evasive and score >= EVASION_THRESHOLD) or (score >= self.threshold and score - benign >= margin)
            if refused and score > best.score:
                best = PolicyVerdict(True, self.categories[nearest], f"similar to: {self.texts[nearest]}", score)
        return best

    def check(self, question: str) -> PolicyVerdict:
        """Rules first; then the frame: a request to act violently on people (or to deny, justify or repeat an
        atrocity, or to take a group's rights) is refused, one set in a game, a sport or fiction, or asking what
        something is or was, is not judged by similarity (whose neighbours share its words, not its intent)."""
        if verdict := self.by_rules(question):
            return verdict
        safe = frames.safe_setting(question)
        if not safe and (category := frames.harmful_frame(question)):
            return PolicyVerdict(True, category, "frame", 1.0)
        if safe or frames.informational(question):
            return PolicyVerdict(False)
        return self.by_similarity(question)
