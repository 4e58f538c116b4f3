/**
 * Fictional name material. Some surnames are also eponyms of diseases (Parkinson, Hodgkin, Graves, Crohn,
 * Addison, Cushing, Bell, Down) so de-identification can be checked not to erase "Parkinson's disease".
 */

export const cnSurnames = [
  ['王', 'Wang'], ['李', 'Li'], ['张', 'Zhang'], ['刘', 'Liu'], ['陈', 'Chen'], ['杨', 'Yang'], ['黄', 'Huang'],
  ['赵', 'Zhao'], ['吴', 'Wu'], ['周', 'Zhou'], ['徐', 'Xu'], ['孙', 'Sun'], ['马', 'Ma'], ['朱', 'Zhu'],
  ['胡', 'Hu'], ['郭', 'Guo'], ['何', 'He'], ['林', 'Lin'], ['罗', 'Luo'], ['高', 'Gao'], ['郑', 'Zheng'],
  ['梁', 'Liang'], ['谢', 'Xie'], ['宋', 'Song'], ['唐', 'Tang'], ['许', 'Xu'], ['韩', 'Han'], ['冯', 'Feng'],
  ['邓', 'Deng'], ['曹', 'Cao'], ['彭', 'Peng'], ['曾', 'Zeng'], ['欧阳', 'Ouyang'], ['司马', 'Sima'], ['诸葛', 'Zhuge'],
] as const;

export const cnGivenChars = [
  ['伟', 'Wei'], ['芳', 'Fang'], ['娜', 'Na'], ['秀英', 'Xiuying'], ['敏', 'Min'], ['静', 'Jing'], ['丽', 'Li'],
  ['强', 'Qiang'], ['磊', 'Lei'], ['军', 'Jun'], ['洋', 'Yang'], ['勇', 'Yong'], ['艳', 'Yan'], ['杰', 'Jie'],
  ['娟', 'Juan'], ['涛', 'Tao'], ['明', 'Ming'], ['超', 'Chao'], ['秀兰', 'Xiulan'], ['霞', 'Xia'], ['平', 'Ping'],
  ['刚', 'Gang'], ['桂英', 'Guiying'], ['建华', 'Jianhua'], ['志强', 'Zhiqiang'], ['晓燕', 'Xiaoyan'], ['海燕', 'Haiyan'],
  ['国庆', 'Guoqing'], ['春梅', 'Chunmei'], ['子涵', 'Zihan'], ['一诺', 'Yinuo'], ['浩然', 'Haoran'], ['雨桐', 'Yutong'],
] as const;

export const enFirstMale = ['James', 'Robert', 'John', 'Michael', 'David', 'William', 'Richard', 'Joseph', 'Thomas', 'Charles', 'Daniel', 'Matthew', 'Anthony', 'Mark', 'Steven', 'Andrew', 'Kenneth', 'Joshua', 'Kevin', 'Brian', 'Jamal', 'Luis', 'Hiroshi', 'Raj'] as const;
export const enFirstFemale = ['Mary', 'Patricia', 'Jennifer', 'Linda', 'Elizabeth', 'Barbara', 'Susan', 'Jessica', 'Sarah', 'Karen', 'Nancy', 'Lisa', 'Margaret', 'Sandra', 'Ashley', 'Emily', 'Dorothy', 'Michelle', 'Carol', 'Amanda', 'Aaliyah', 'Maria', 'Mei', 'Priya'] as const;
/** Nicknames written by some registration desks instead of the legal first name. */
export const enNicknames: Record<string, string> = {
  James: 'Jim', Robert: 'Bob', John: 'Jack', Michael: 'Mike', David: 'Dave', William: 'Bill', Richard: 'Rick', Joseph: 'Joe',
  Thomas: 'Tom', Charles: 'Chuck', Daniel: 'Dan', Matthew: 'Matt', Anthony: 'Tony', Steven: 'Steve', Andrew: 'Andy',
  Kenneth: 'Ken', Elizabeth: 'Liz', Patricia: 'Patty', Jennifer: 'Jen', Margaret: 'Peggy', Susan: 'Sue', Barbara: 'Barb',
  Jessica: 'Jess', Dorothy: 'Dot', Sandra: 'Sandy', Amanda: 'Mandy',
};
export const enLastNames = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez',
  'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White',
  'Harris', 'Clark', 'Lewis', 'Robinson', 'Walker', "O'Brien", 'McAllister', 'Nguyen', 'Kim', 'Patel', 'Okafor',
  // eponyms on purpose
  'Parkinson', 'Hodgkin', 'Graves', 'Crohn', 'Addison', 'Cushing', 'Bell', 'Down',
] as const;
export const eponymSurnames = ['Parkinson', 'Hodgkin', 'Graves', 'Crohn', 'Addison', 'Cushing', 'Bell', 'Down'] as const;

export const cnCities = [
  { province: '北京市', city: '北京市', districts: ['朝阳区', '海淀区', '东城区', '丰台区'], postal: '100' },
  { province: '上海市', city: '上海市', districts: ['黄浦区', '徐汇区', '浦东新区', '静安区'], postal: '200' },
  { province: '广东省', city: '广州市', districts: ['越秀区', '天河区', '海珠区'], postal: '510' },
  { province: '四川省', city: '成都市', districts: ['武侯区', '锦江区', '青羊区'], postal: '610' },
  { province: '湖北省', city: '武汉市', districts: ['江岸区', '武昌区', '洪山区'], postal: '430' },
  { province: '浙江省', city: '杭州市', districts: ['西湖区', '上城区', '滨江区'], postal: '310' },
  { province: '陕西省', city: '西安市', districts: ['雁塔区', '碑林区', '新城区'], postal: '710' },
  { province: '江苏省', city: '南京市', districts: ['鼓楼区', '玄武区', '秦淮区'], postal: '210' },
  { province: '广东省', city: '深圳市', districts: ['福田区', '南山区', '罗湖区'], postal: '518' },
] as const;
export const cnStreets = ['建国路', '中山路', '人民路', '解放大道', '长安街', '和平里', '光明路', '幸福巷', '文化路', '新华街', '科技园南路'] as const;
/** GB 11643 address codes of the first six digits (region), one per city above plus a few more. */
export const cnRegionCodes = ['110105', '110108', '310101', '310115', '440104', '510107', '420102', '330106', '610113', '320106', '440304', '130102', '370102'] as const;

export const usCities = [
  { city: 'Springfield', state: 'IL', zip: '627' }, { city: 'Riverton', state: 'NY', zip: '104' },
  { city: 'Lakeside', state: 'IL', zip: '606' }, { city: 'Mesa Verde', state: 'AZ', zip: '852' },
  { city: 'Harborview', state: 'CA', zip: '941' }, { city: 'Pine Hills', state: 'CO', zip: '802' },
  { city: 'Bayou City', state: 'LA', zip: '701' }, { city: 'Summit', state: 'NY', zip: '122' },
  { city: 'Prairie View', state: 'IL', zip: '612' }, { city: 'Coastal Bend', state: 'MA', zip: '021' },
] as const;
export const usStreets = ['Oak', 'Maple', 'Cedar', 'Elm', 'Washington', 'Lake', 'Hill', 'Park', 'Main', 'Sunset', 'Riverside', 'Willow'] as const;
export const usStreetTypes = [['Street', 'St'], ['Avenue', 'Ave'], ['Road', 'Rd'], ['Drive', 'Dr'], ['Lane', 'Ln'], ['Boulevard', 'Blvd']] as const;

export const cnDoctorNames = ['李明', '王建国', '陈晓红', '刘志刚', '赵丽华', '孙海涛', '周文斌', '吴静怡', '郑国强', '黄美玲'] as const;
export const enDoctorNames = ['Martin Graves', 'Alan Chen', 'Susan Whitaker', 'Omar Haddad', 'Rebecca Stone', 'Victor Alvarez', 'Hannah Brooks', 'Helen Parkinson', 'Nadia Petrova', 'George Kim'] as const;
